import { Directive, Field, ID, InputType, Int, ObjectType } from "type-graphql";

// A federation entity: other subgraphs extend User by id (e.g. add User.notes).
@Directive('@key(fields: "id")')
@ObjectType({ description: "An account." })
export class User {
  @Field(() => ID)
  id!: string;

  @Field()
  email!: string;

  @Field(() => [String], { description: "Role names, in the order they were granted; they grant scopes (AUTHZ_FILE)." })
  roles!: string[];

  @Field()
  createdAt!: Date;
}

@ObjectType({ description: "One signed-in device or browser." })
export class Session {
  @Field(() => ID)
  id!: string;

  @Field()
  createdAt!: Date;

  @Field()
  lastUsedAt!: Date;

  @Field({ description: "Absolute expiry; the session also ends when unused for SESSION_IDLE_TTL." })
  expiresAt!: Date;

  @Field(() => String, { nullable: true })
  userAgent!: string | null;

  @Field(() => String, { nullable: true })
  ip!: string | null;

  @Field({ description: "True for the session of the calling access token." })
  current!: boolean;
}

@ObjectType()
export class AuthPayload {
  @Field({ description: "JWT for the Authorization header." })
  accessToken!: string;

  @Field({ description: '"Bearer"' })
  tokenType!: string;

  @Field(() => Int, { description: "Seconds until accessToken expires." })
  expiresIn!: number;

  @Field(() => User)
  user!: User;
}

@ObjectType({ description: "A pending TOTP secret: show it (or otpauthUrl as a QR code) to the user once." })
export class TotpEnrollment {
  @Field({ description: "Base32, for typing into an authenticator app." })
  secret!: string;

  @Field({ description: "otpauth:// URL, for a QR code." })
  otpauthUrl!: string;
}

@InputType()
export class SignUpInput {
  @Field()
  email!: string;

  @Field()
  password!: string;
}

@InputType()
export class LoginInput {
  @Field()
  email!: string;

  @Field()
  password!: string;
}
