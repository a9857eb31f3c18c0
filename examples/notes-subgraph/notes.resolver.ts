// A subgraph author's resolvers: the caller comes from the gateway-signed identity
// that keyway/subgraph verified in the context function (server.ts).
//
// Some fields are guarded by the Federation authorization directives, which
// keyway enforces at the gateway before this subgraph is called: @authenticated
// (any caller), @requiresScopes (a scope the caller's roles grant through
// AUTHZ_FILE) and @policy (a named rule of AUTHZ_FILE, here verified_email, and
// recent_second_factor: TOTP or a passkey within the last 5 minutes, which a
// password-only session gets by stepping up). Each resolver checks the same again
// from the identity, in case the subgraph is ever reached some other way.
import { randomUUID } from "node:crypto";
import { GraphQLError } from "graphql";
import { Arg, Ctx, Directive, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { hasScope, type IdentityClaims } from "keyway/subgraph";
import { Note, User } from "./notes.types";

export interface NotesContext {
  /** Null for anonymous requests. */
  identity: IdentityClaims | null;
}

const notesByUser = new Map<string, Note[]>();

/** The scope a moderator's role grants (examples/authz.json). */
export const NOTES_ADMIN_SCOPE = "notes:admin";

function callerOf(context: NotesContext): IdentityClaims {
  if (!context.identity)
    throw new GraphQLError("Sign in to see your notes", { extensions: { code: "UNAUTHENTICATED" } });
  return context.identity;
}

const forbidden = (message: string) => new GraphQLError(message, { extensions: { code: "FORBIDDEN" } });

/** What examples/authz.json's recent_second_factor asks: TOTP ("otp") or a passkey ("hwk"), at most 5 minutes ago. */
const SECOND_FACTOR_METHODS = ["otp", "hwk"];
const RECENT_AUTH_SECONDS = 5 * 60;

function hasRecentSecondFactor(caller: IdentityClaims): boolean {
  const ageSeconds = caller.authTime === null ? Infinity : Math.floor(Date.now() / 1000) - caller.authTime;
  return caller.amr.some((method) => SECOND_FACTOR_METHODS.includes(method)) && ageSeconds <= RECENT_AUTH_SECONDS;
}

@Resolver()
export class NotesResolver {
  @Query(() => [Note], { description: "The caller's notes." })
  myNotes(@Ctx() context: NotesContext): Note[] {
    return notesByUser.get(callerOf(context).sub) ?? [];
  }

  @Mutation(() => Note)
  addNote(@Arg("text") text: string, @Ctx() context: NotesContext): Note {
    const { sub } = callerOf(context);
    const note = { id: randomUUID(), text: text.slice(0, 1000), createdAt: new Date().toISOString(), published: false };
    notesByUser.set(sub, [...(notesByUser.get(sub) ?? []), note]);
    return note;
  }

  @Directive("@authenticated")
  @Query(() => Int, { nullable: true, description: "How many notes the caller has; any signed-in caller." })
  noteCount(@Ctx() context: NotesContext): number {
    return notesByUser.get(callerOf(context).sub)?.length ?? 0;
  }

  @Directive(`@requiresScopes(scopes: [["${NOTES_ADMIN_SCOPE}"]])`)
  @Query(() => [Note], { nullable: true, description: "Every user's notes, for moderators (scope notes:admin)." })
  allNotes(@Ctx() context: NotesContext): Note[] {
    if (!hasScope(callerOf(context), NOTES_ADMIN_SCOPE)) throw forbidden(`This needs the scope ${NOTES_ADMIN_SCOPE}`);
    return [...notesByUser.values()].flat();
  }

  @Directive('@policy(policies: [["verified_email"]])')
  @Mutation(() => Note, {
    nullable: true,
    description: "Publishes one of the caller's notes; only with a verified email address (policy verified_email).",
  })
  publishNote(@Arg("id", () => ID) id: string, @Ctx() context: NotesContext): Note {
    const caller = callerOf(context);
    if (!caller.emailVerified) throw forbidden("Verify your email address to publish notes");
    const note = notesByUser.get(caller.sub)?.find((candidate) => candidate.id === id);
    if (!note) throw new GraphQLError("No such note of yours", { extensions: { code: "BAD_USER_INPUT" } });
    note.published = true;
    return note;
  }

  @Directive('@policy(policies: [["recent_second_factor"]])')
  @Mutation(() => Int, {
    nullable: true,
    description:
      "Deletes all the caller's notes and says how many; only within 5 minutes of a second factor (policy recent_second_factor).",
  })
  deleteAllNotes(@Ctx() context: NotesContext): number {
    const caller = callerOf(context);
    if (!hasRecentSecondFactor(caller))
      throw forbidden(
        "Deleting all your notes needs a second factor (TOTP or a passkey) within the last 5 minutes: step up first",
      );
    const deleted = notesByUser.get(caller.sub)?.length ?? 0;
    notesByUser.delete(caller.sub);
    return deleted;
  }
}

@Resolver(() => User)
export class UserNotesResolver {
  /** Only the user themselves sees their notes, whoever else references them. */
  @FieldResolver(() => [Note])
  notes(@Root() user: User, @Ctx() context: NotesContext): Note[] {
    return callerOf(context).sub === user.id ? (notesByUser.get(user.id) ?? []) : [];
  }
}
