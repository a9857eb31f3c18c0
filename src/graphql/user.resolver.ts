// User's fields that are not columns, for every path that yields a user record
// (me, AuthPayload.user, a subgraph's reference).
import { FieldResolver, Resolver, Root } from "type-graphql";
import type { UserRecord } from "../users/user.store";
import { User } from "./types";

@Resolver(() => User)
export class UserResolver {
  @FieldResolver(() => Boolean, { description: "Whether the user proved they own the email address." })
  emailVerified(@Root() user: UserRecord): boolean {
    return user.emailVerifiedAt instanceof Date;
  }
}
