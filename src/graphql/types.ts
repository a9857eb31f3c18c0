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

@ObjectType({ description: "A passkey (WebAuthn credential) of the caller's." })
export class Passkey {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true, description: "The user's label for it." })
  name!: string | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: "When it last signed in or stepped up." })
  lastUsedAt!: Date | null;

  @Field({ description: "Whether it is synced between devices (a multi-device credential that was backed up)." })
  backedUp!: boolean;
}

@ObjectType({ description: "The caller's second factors." })
export class SecondFactors {
  @Field({ description: "Whether TOTP is enabled (a pending enrolment is not)." })
  totp!: boolean;

  @Field(() => Int, { description: "Unused recovery codes." })
  recoveryCodesLeft!: number;

  @Field(() => [Passkey])
  passkeys!: Passkey[];
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
