/**
 * The loaded set of registrations and the three lookups the request path needs: by id, by the
 * as_token a request carries, and by the sender user an event comes from.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import type { Registration } from './registration.ts';

/** One-shot `crypto.hash` (Node 20.12+): a third of createHash's cost, and this runs per request. */
function digest(token: string): string {
  return hash('sha256', token, 'base64');
}

/**
 * @example
 * const registry = new Registry(await loadRegistrations(['./registrations/*.yaml']), 'example.org');
 * const as = registry.byAsToken(bearerToken); // undefined for an unknown token
 * registry.bySender('@_irc_bot:example.org')?.id; // 'irc'
 */
export class Registry {
  readonly all: readonly Registration[];
  readonly #serverName: string;
  readonly #byId = new Map<string, Registration>();
  /** Keyed by the base64 SHA-256 of the as_token, so the map lookup never compares token text. */
  readonly #byTokenDigest = new Map<string, { token: Buffer; registration: Registration }>();
  readonly #bySender = new Map<string, Registration>();

  constructor(registrations: readonly Registration[], serverName: string) {
    this.all = Object.freeze([...registrations]);
    this.#serverName = serverName;
    for (const registration of registrations) {
      this.#byId.set(registration.id, registration);
      this.#byTokenDigest.set(digest(registration.asToken), {
        token: Buffer.from(registration.asToken, 'utf8'),
        registration,
      });
      this.#bySender.set(`@${registration.senderLocalpart}:${serverName}`, registration);
    }
  }

  /** The homeserver name sender user ids are built with. */
  get serverName(): string {
    return this.#serverName;
  }

  byId(id: string): Registration | undefined {
    return this.#byId.get(id);
  }

  /**
   * The registration whose as_token this is. A plain Map keyed by the token would compare the
   * attacker's string against stored tokens byte by byte, leaking how much of a prefix matched;
   * hashing first makes the lookup's timing depend only on the digest, which reveals nothing
   * about how close a guess is, and timingSafeEqual confirms the hit on the token itself.
   */
  byAsToken(token: string): Registration | undefined {
    const entry = this.#byTokenDigest.get(digest(token));
    if (!entry) return undefined;
    // Only reached when the digests match, so the lengths are equal unless SHA-256 collided.
    const given = Buffer.from(token, 'utf8');
    if (given.length !== entry.token.length || !timingSafeEqual(given, entry.token)) return undefined;
    return entry.registration;
  }

  /** The registration whose `sender_localpart` user this is (`@<sender_localpart>:<serverName>`). */
  bySender(userId: string): Registration | undefined {
    return this.#bySender.get(userId);
  }
}
