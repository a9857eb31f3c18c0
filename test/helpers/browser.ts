// Debian's Chromium driven by playwright-core. CI installs the browser (.ci/run
// sets REQUIRE_BROWSER=1, so a missing one fails there); elsewhere the browser
// suite is skipped with a message when /usr/bin/chromium is absent.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium, type Browser } from "playwright-core";
import { ROOT } from "./process";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const ARTIFACTS = path.join(ROOT, "test-artifacts");

/** Whether the browser suite can run; throws when CI demands a browser that is not there. */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true;
  if (process.env.REQUIRE_BROWSER === "1")
    throw new Error(`REQUIRE_BROWSER=1 but ${CHROMIUM_PATH} does not exist (apt-get install chromium)`);
  console.warn(
    `Skipping the browser suite: ${CHROMIUM_PATH} not found (apt-get install chromium, or set CHROMIUM_PATH).`,
  );
  return false;
}

export function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  // playwright-core gives every launch a fresh temporary profile (its own --user-data-dir).
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // This machine's network is closed: without these Chromium keeps trying to reach Google's hosts.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}
