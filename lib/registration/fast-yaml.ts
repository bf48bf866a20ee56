/**
 * A quicker read of the registration files that need nothing unusual. The `yaml` package builds a
 * document model (tokens, nodes, ranges) before the values, and with a thousand files that was
 * most of `appservices()`'s start-up (about 0.5 ms a file on a cold JIT); js-yaml's single pass
 * takes about a fifth of that.
 *
 * The `yaml` package stays the reference: js-yaml runs with only the failsafe schema (strings,
 * lists, mappings), and every plain scalar is resolved by the `yaml` package's own YAML 1.1 tag
 * tests (with PyYAML's booleans, as load.ts sets them). Only nulls and booleans are taken; a plain
 * scalar that YAML 1.1 reads as anything else (a number, a timestamp, a merge key), an anchor, an
 * explicit tag, a top level that is not a mapping, or any error makes the caller fall back to the
 * `yaml` package, which then gives the value or the error exactly as before.
 */
import jsyaml from 'js-yaml';
import { Schema, type ScalarTag, type Tags } from 'yaml';

/**
 * PyYAML (what Synapse reads these files with) reads `yes`/`on`/`true` as booleans and keeps a bare
 * `y`/`n` a string; the `yaml` package's YAML 1.1 schema would read `y` as true.
 */
const PYYAML_TRUE = /^(?:[Yy]es|YES|[Tt]rue|TRUE|[Oo]n|ON)$/;
const PYYAML_FALSE = /^(?:[Nn]o|NO|[Ff]alse|FALSE|[Oo]ff|OFF)$/;

const BOOL_TAG = 'tag:yaml.org,2002:bool';
const NULL_TAG = 'tag:yaml.org,2002:null';

/**
 * The `yaml` package's YAML 1.1 tags with PyYAML's booleans (the `customTags` of `parseDocument`).
 *
 * @example
 * parseDocument(text, { version: '1.1', customTags: pyyamlBooleans });
 */
export function pyyamlBooleans(tags: Tags): Tags {
  return tags.map((tag) => {
    if (typeof tag !== 'object' || !('tag' in tag) || tag.tag !== BOOL_TAG || !('test' in tag)) return tag;
    if (!(tag.test instanceof RegExp)) return tag;
    return { ...tag, test: tag.test.test('true') ? PYYAML_TRUE : PYYAML_FALSE } as ScalarTag;
  });
}

/** The tags that a plain scalar is tested against, in the order the `yaml` package tests them. */
const PLAIN_TAGS: readonly ScalarTag[] = new Schema({ schema: 'yaml-1.1', customTags: pyyamlBooleans }).tags.filter(
  (tag): tag is ScalarTag =>
    'test' in tag && tag.test instanceof RegExp && (tag.default === true || tag.default === 'key'),
);

/** Thrown inside js-yaml to give up: the caller reads the text with the `yaml` package instead. */
class FallBack extends Error {}

/**
 * Stands for a null while js-yaml runs: the `yaml` package turns a null key into `""` where js-yaml
 * would write `"null"`, so a null that ends up as a key is noticed (it reads `[object Object]`).
 */
const NULL = Object.freeze({});
/** Keys only a null can give in js-yaml (the stand-in, or an empty explicit key): never taken. */
const NULL_KEYS: ReadonlySet<string> = new Set([String(NULL), 'null']);

const COMPLEX_KEY = /(?:^|[\s,[{])\?(?:\s|$)|[\]}]\s*:|[\]}]#/m;

/** Plain scalars as the `yaml` package reads them: a null, a boolean, a string, or give up. */
const PLAIN_TAG = 'tag:koa-appservice,2025:plain';
const plainScalar = new jsyaml.Type(PLAIN_TAG, {
  kind: 'scalar',
  resolve: (data: unknown) => typeof data === 'string' && PLAIN_TAGS.some((tag) => tag.test!.test(data)),
  construct: (data: string) => {
    const tag = PLAIN_TAGS.find((t) => t.test!.test(data))!;
    if (tag.tag === NULL_TAG) return NULL;
    if (tag.tag === BOOL_TAG) return PYYAML_TRUE.test(data);
    throw new FallBack();
  },
});

const SCHEMA = jsyaml.FAILSAFE_SCHEMA.extend({ implicit: [plainScalar] });
const OWN_TAGS: ReadonlySet<string | null> = new Set([null, '?', PLAIN_TAG]);

/** What comes before a node: spaces, line breaks, comments. */
const LEADING = /^(?:\s|#[^\n]*)*/;

/**
 * js-yaml's options for one text. Besides anchors and tags, a quoted scalar over several lines goes
 * the yaml package's way: js-yaml accepts continuation lines the yaml package refuses as badly
 * indented.
 */
function options(text: string): jsyaml.LoadOptions {
  const starts: number[] = [];
  return {
    schema: SCHEMA,
    listener(event, state) {
      const node = state as unknown as {
        readonly anchor: string | null;
        readonly tag: string | null;
        readonly position: number;
      };
      if (event === 'open') {
        starts.push(node.position);
        return;
      }
      const start = starts.pop()!;
      if (node.anchor !== null || !OWN_TAGS.has(node.tag)) throw new FallBack();
      if (node.tag === null) {
        const source = text.slice(start, node.position).replace(LEADING, '');
        if ((source.startsWith("'") || source.startsWith('"')) && source.includes('\n')) throw new FallBack();
      }
    },
  };
}

/**
 * The registration file's mapping, read with js-yaml, or undefined when the `yaml` package must
 * read it (see the file comment).
 *
 * @example
 * const value = readPlainYaml('id: irc\nurl: null\n'); // { id: 'irc', url: null }
 */
export function readPlainYaml(text: string): Record<string, unknown> | undefined {
  // Complex keys (`? key`, or a flow collection before a colon): js-yaml turns them into strings
  // where the yaml package warns, so a file with anything like one goes the yaml package's way;
  // so does a `#` right after a flow collection, which js-yaml takes as a comment.
  if (COMPLEX_KEY.test(text)) return undefined;
  let value: unknown;
  try {
    value = jsyaml.load(text, options(text));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || value === NULL || Array.isArray(value)) return undefined;
  return restoreNulls(value) ? (value as Record<string, unknown>) : undefined;
}

/** Puts the nulls back in place of their stand-ins; false when a null may have been a key. */
function restoreNulls(node: object): boolean {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const item: unknown = node[i];
      if (item === NULL) node[i] = null;
      else if (typeof item === 'object' && item !== null && !restoreNulls(item)) return false;
    }
    return true;
  }
  const record = node as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (NULL_KEYS.has(key)) return false;
    const item = record[key];
    if (item === NULL) record[key] = null;
    else if (typeof item === 'object' && item !== null && !restoreNulls(item)) return false;
  }
  return true;
}
