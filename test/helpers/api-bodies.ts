/**
 * The shapes of the HTTP response bodies the tests read, so `res.json<T>()` is typed instead of
 * `any`. Declared from the API's contract (the OpenAPI document and src/web/deps.ts), not inferred
 * from a response: a test that reads a member the API does not send fails to compile.
 */
import type { FieldError } from '../../src/web/problem.js';
import type { DriftView, PlanStep, PlanView } from '../../src/web/deps.js';

/** RFC 9457 problem+json as src/web/problem.ts sends it; extension members (`vcenter`, `retryAfter`) too. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  /** Present for invalid input (400), and for invalid cluster XML (with line/column). */
  errors: FieldError[];
  [extension: string]: unknown;
}

/** GET/POST /api/v1/session (and POST /api/v1/setup). */
export interface SessionBody {
  authenticated: boolean;
  csrfToken: string;
  setupRequired?: boolean;
  user?: { id: number; username: string; role: string };
}

/** GET /api/v1/clusters/{name}/plan. */
export interface PlanBody extends PlanView {
  cluster: string;
}

export type { DriftView, PlanStep };

/** A JSON Schema object in the OpenAPI document (only what the tests read). */
export interface OpenApiSchema {
  required?: string[];
  properties?: Record<string, OpenApiSchema>;
  [keyword: string]: unknown;
}

/** One operation of the OpenAPI document (only what the tests read). */
export interface OpenApiOperation {
  responses: Record<string, { content?: Record<string, { schema: OpenApiSchema }> } | undefined>;
  [field: string]: unknown;
}

/** GET /api/docs/json: the OpenAPI 3 document (only what the tests read). */
export interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, OpenApiOperation | undefined> | undefined>;
  components: { schemas: Record<string, OpenApiSchema> };
}
