import { migration001 } from './001-initial.ts';
import { migration002 } from './002-store-birth.ts';
import { migration003 } from './003-sender-epoch.ts';
import { migration004 } from './004-device-item-kinds.ts';
import { migration005 } from './005-transactions-ahead.ts';

/**
 * PostgresStore's migrations, in order: entry i takes the schema from version i to i + 1
 * (recorded in the `schema_version` table). Append only; never edit a migration that has shipped.
 * They are TypeScript strings rather than .sql files so that they travel with `tsc` output.
 */
export const postgresMigrations: readonly string[] = [
  migration001,
  migration002,
  migration003,
  migration004,
  migration005,
];
