/**
 * The few SQL fragments that differ between the stores' dialects (./sql.ts), for the repositories
 * that pass lists as one JSON parameter: one statement text per dialect, whatever the list's
 * length (the executors cache statements by text).
 */
import type { Dialect } from './sql.js';

/**
 * A table expression over one `?` parameter holding a JSON array of strings (`'["a","b"]'`): one
 * row per element, its text in column `value`. SQLite: `json_each(?)` (JSON1); PostgreSQL:
 * `json_array_elements_text(?::json)` (manual §9.16, JSON functions). Use as
 * `x IN (SELECT value FROM ${jsonTextElements(dialect)})`.
 */
export function jsonTextElements(dialect: Dialect): string {
  return dialect === 'sqlite' ? 'json_each(?)' : 'json_array_elements_text(?::json)';
}
