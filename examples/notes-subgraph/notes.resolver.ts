// A subgraph author's resolvers: the caller comes from the gateway-signed identity
// that keyway/subgraph verified in the context function (server.ts).
import { randomUUID } from "node:crypto";
import { GraphQLError } from "graphql";
import { Arg, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from "type-graphql";
import type { IdentityClaims } from "keyway/subgraph";
import { Note, User } from "./notes.types";

export interface NotesContext {
  /** Null for anonymous requests. */
  identity: IdentityClaims | null;
}

const notesByUser = new Map<string, Note[]>();

function callerOf(context: NotesContext): IdentityClaims {
  if (!context.identity)
    throw new GraphQLError("Sign in to see your notes", { extensions: { code: "UNAUTHENTICATED" } });
  return context.identity;
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
    const note = { id: randomUUID(), text: text.slice(0, 1000), createdAt: new Date().toISOString() };
    notesByUser.set(sub, [...(notesByUser.get(sub) ?? []), note]);
    return note;
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
