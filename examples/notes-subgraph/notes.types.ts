import { Directive, Field, ID, ObjectType } from "type-graphql";

@ObjectType()
export class Note {
  @Field(() => ID)
  id!: string;

  @Field()
  text!: string;

  @Field()
  createdAt!: string;
}

/** keyway's User entity, extended here with the notes this subgraph owns. */
@ObjectType()
@Directive('@key(fields: "id")')
export class User {
  @Field(() => ID)
  id!: string;
}
