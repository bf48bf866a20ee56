/**
 * A minimal `/sync`: joined rooms' timelines since a position in the homeserver-wide stream,
 * invites with their stripped state, and long-polling up to `timeout` ms. Enough for a real client
 * to follow a conversation; no filters, no account data, no lazy loading.
 */
import type Router from '@koa/router';
import type { AppserviceContext, AppserviceState } from '../../../lib/index.ts';
import { clientEvent, type HomeserverData, type RoomEvent } from '../data.ts';
import { cs, requester, type Ctx } from '../http.ts';

/** Longest wait a client may ask for: the server must still be able to shut down promptly. */
const MAX_TIMEOUT_MS = 30_000;
const STRIPPED = ['m.room.create', 'm.room.join_rules', 'm.room.name', 'm.room.canonical_alias'];

/**
 * Registers `/sync`; the returned function ends every pending long-poll (call it on shutdown).
 *
 * @example
 * const stopSync = syncRoutes(router, data);
 */
export function syncRoutes(router: Router<AppserviceState, AppserviceContext>, data: HomeserverData): () => void {
  const pending = new Set<() => void>();

  router.get(cs('/sync'), async (c) => {
    const ctx = c as Ctx;
    const who = requester(ctx, data);
    const since =
      typeof ctx.query.since === 'string' && /^s\d+$/.test(ctx.query.since) ? Number(ctx.query.since.slice(1)) : 0;
    const timeoutMs = Math.min(Math.max(Number(ctx.query.timeout ?? 0) || 0, 0), MAX_TIMEOUT_MS);
    if (since > 0 && timeoutMs > 0 && !hasNews(who.userId, since)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          unlisten();
          pending.delete(done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        const unlisten = data.listen(() => {
          if (hasNews(who.userId, since)) done();
        });
        pending.add(done);
      });
    }
    ctx.body = build(who.userId, since);
  });

  /** Whether anything after `since` is in a room the user is in, was in, or is invited to. */
  function hasNews(userId: string, since: number): boolean {
    for (let i = since; i < data.stream.length; i++) {
      const event = data.stream[i]!;
      const room = data.rooms.get(event.room_id);
      if (room !== undefined && data.membership(room, userId) !== undefined) return true;
    }
    return false;
  }

  function build(userId: string, since: number): Record<string, unknown> {
    const join: Record<string, unknown> = {};
    const invite: Record<string, unknown> = {};
    const leave: Record<string, unknown> = {};
    for (const room of data.rooms.values()) {
      const membership = data.membership(room, userId);
      const fresh = room.timeline.filter((e) => e.stream > since);
      if (membership === 'join' && (fresh.length > 0 || since === 0)) {
        join[room.roomId] = { timeline: { events: fresh.map(clientEvent), limited: false }, state: { events: [] } };
      } else if (membership === 'invite' && fresh.length > 0) {
        const stripped = STRIPPED.map((type) => data.stateEvent(room, type)).filter(
          (e): e is RoomEvent => e !== undefined,
        );
        const own = data.stateEvent(room, 'm.room.member', userId);
        const events = [...stripped, ...(own ? [own] : [])].map(({ type, state_key, sender, content }) => ({
          type,
          state_key,
          sender,
          content,
        }));
        invite[room.roomId] = { invite_state: { events } };
      } else if (membership === 'leave' && fresh.length > 0) {
        const left = data.stateEvent(room, 'm.room.member', userId)!.stream;
        leave[room.roomId] = {
          timeline: { events: fresh.filter((e) => e.stream <= left).map(clientEvent), limited: false },
          state: { events: [] },
        };
      }
    }
    return {
      next_batch: `s${data.stream.length}`,
      rooms: { join, invite, leave },
      presence: { events: [] },
      account_data: { events: [] },
    };
  }

  return () => {
    for (const done of [...pending]) done();
  };
}
