import { Directive, Field, ID, ObjectType } from "type-graphql";

@ObjectType()
export class Note {
  @Field(() => ID)
  id!: string;

  @Field()
  text!: string;

  @Field()
  createdAt!: string;

  @Field({ description: "Published notes were shared by an author with a verified email address." })
  published!: boolean;
}

/** keyway's User entity, extended here with the notes this subgraph owns. */
@ObjectType()
@Directive('@key(fields: "id")')
export class User {
  @Field(() => ID)
  id!: string;
}
