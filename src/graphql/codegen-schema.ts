// Entry for GraphQL Code Generator (codegen.yml): the schema exactly as the server builds it.
import { buildKeywaySchema } from "./schema";

export const schema = buildKeywaySchema();
