// HTTP with exact control over header lines (fetch merges or refuses duplicates).
import net from "node:net";

export interface RawResponse {
  status: number;
  body: string;
}

/** POST a JSON body with header lines sent exactly as given, in order. */
export function postRaw(baseUrl: string, path: string, headerLines: string[], body: string): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on("connect", () => {
      const head = [
        `POST ${path} HTTP/1.1`,
        `Host: ${hostname}:${port}`,
        "Content-Type: application/json",
        `Content-Length: ${Buffer.byteLength(body)}`,
        "Connection: close",
        ...headerLines,
      ];
      socket.end(`${head.join("\r\n")}\r\n\r\n${body}`);
    });
    socket.on("data", (chunk) => chunks.push(chunk));
    // A server that answers before reading the whole request (431 to an oversized header)
    // closes with request bytes unread, so the kernel resets the connection after the
    // answer. Node 20's libuv took that reset for the end of the stream; Node 24's (1.52)
    // reads on and reports ECONNRESET. An answer already received still stands.
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET" && isComplete(Buffer.concat(chunks).toString("utf8"))) return;
      reject(error);
    });
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const rawBody = text.slice(text.indexOf("\r\n\r\n") + 4);
      resolve({ status, body: /transfer-encoding: chunked/i.test(text) ? dechunk(rawBody) : rawBody });
    });
  });
}

/** A whole HTTP response: its header block, then Content-Length bytes or the last chunk. */
function isComplete(text: string): boolean {
  const headEnd = text.indexOf("\r\n\r\n");
  if (headEnd === -1) return false;
  const head = text.slice(0, headEnd);
  const body = text.slice(headEnd + 4);
  const length = /^content-length:\s*(\d+)\s*$/im.exec(head)?.[1];
  if (length !== undefined) return Buffer.byteLength(body) >= Number(length);
  if (/^transfer-encoding:\s*chunked\s*$/im.test(head)) return body.endsWith("0\r\n\r\n");
  return false;
}

function dechunk(raw: string): string {
  let out = "";
  let rest = raw;
  for (;;) {
    const lineEnd = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (!size) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 4 + size);
  }
}
