import { migration001 } from './001-initial.ts';
import { migration002 } from './002-queue-rows-carry-json.ts';
import { migration003 } from './003-store-birth.ts';
import { migration004 } from './004-device-item-kinds.ts';
import { migration005 } from './005-transaction-bodies-optional.ts';

/**
 * SqliteStore's migrations, in order: entry i takes the database from schema version i to i + 1
 * (recorded in `PRAGMA user_version`). Append only; never edit a migration that has shipped.
 * They are TypeScript strings rather than .sql files so that they travel with `tsc` output.
 */
export const sqliteMigrations: readonly string[] = [
  migration001,
  migration002,
  migration003,
  migration004,
  migration005,
];
