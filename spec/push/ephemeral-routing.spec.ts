/**
 * AS API, "Pushing EDUs" (v1.13): "Private read receipts should only be sent for users matching one
 * of the application service's namespaces. Normal read receipts and threaded read receipts are
 * always sent." Checked per AS and per user inside one receipt EDU.
 */
import { expect } from 'chai';
import type { EphemeralEvent } from '../../lib/events.ts';
import { Interest } from '../../lib/interest.ts';
import { NamespaceIndex } from '../../lib/namespace/namespace-index.ts';
import { ephemeralItems } from '../../lib/push/ephemeral-routing.ts';
import type { Registration } from '../../lib/registration/registration.ts';
import { registration } from './registrations.ts';

describe('ephemeralItems (AS API "Pushing EDUs": private read receipts)', () => {
  const a = registration('a', { users: ['@a_.*'], receiveEphemeral: true });
  const b = registration('b', { users: ['@b_.*'], receiveEphemeral: true });
  const c = registration('c', { rooms: ['!r:hs.test'], receiveEphemeral: true });
  const regs: Registration[] = [a, b, c];
  const interest = new Interest({
    host: {
      serverName: 'hs.test',
      authenticate: async () => null,
      userExists: async () => false,
      resolveAlias: async () => null,
      roomAliases: async () => [],
      joinedMembers: async () => [],
    },
    registrations: regs,
    index: new NamespaceIndex(regs),
  });
  const ownersOf = (userId: string) => interest.ownersOf(userId);
  const route = (edu: EphemeralEvent, to: readonly Registration[] = regs) =>
    ephemeralItems(edu, JSON.stringify(edu), to, ownersOf);
  const views = (edu: EphemeralEvent) =>
    Object.fromEntries(route(edu).flatMap((item) => item.asIds.map((id) => [id, JSON.parse(item.json).content])));
  const receipt = (content: Record<string, unknown>): EphemeralEvent => ({
    type: 'm.receipt',
    room_id: '!r:hs.test',
    content,
  });

  it('sends typing, presence and receipts without private entries to every AS as published, in one item', () => {
    const typing: EphemeralEvent = { type: 'm.typing', room_id: '!r:hs.test', content: { user_ids: ['@a_x:hs.test'] } };
    const publicOnly = receipt({
      $e: { 'm.read': { '@a_x:hs.test': { ts: 1 }, '@z:hs.test': { ts: 2, thread_id: '$t' } } },
    });
    for (const edu of [typing, publicOnly]) {
      expect(route(edu)).to.deep.equal([{ kind: 'ephemeral', json: JSON.stringify(edu), asIds: ['a', 'b', 'c'] }]);
    }
    expect(route(typing, [])).to.deep.equal([]);
  });

  it('removes a private read receipt from every AS whose namespace does not hold the reader; an AS left with nothing gets nothing', () => {
    const edu = receipt({ $e: { 'm.read.private': { '@a_x:hs.test': { ts: 1 } } } });
    const items = route(edu);
    expect(items).to.deep.equal([{ kind: 'ephemeral', json: JSON.stringify(edu), asIds: ['a'] }]);
  });

  it("filters per user inside one EDU: each AS sees the public receipts and only its own users' private ones", () => {
    const edu = receipt({
      $e1: {
        'm.read': { '@z:hs.test': { ts: 1 } },
        'm.read.private': { '@a_x:hs.test': { ts: 2 }, '@b_y:hs.test': { ts: 3 } },
      },
      $e2: { 'm.read.private': { '@b_y:hs.test': { ts: 4 }, '@z:hs.test': { ts: 5 } } },
    });
    expect(views(edu)).to.deep.equal({
      a: { $e1: { 'm.read': { '@z:hs.test': { ts: 1 } }, 'm.read.private': { '@a_x:hs.test': { ts: 2 } } } },
      b: {
        $e1: { 'm.read': { '@z:hs.test': { ts: 1 } }, 'm.read.private': { '@b_y:hs.test': { ts: 3 } } },
        $e2: { 'm.read.private': { '@b_y:hs.test': { ts: 4 } } },
      },
      // Interested in the room, but no reader is in its namespace: the public receipt only.
      c: { $e1: { 'm.read': { '@z:hs.test': { ts: 1 } } } },
    });
    // Every other field of the EDU is kept.
    for (const item of route(edu))
      expect(JSON.parse(item.json)).to.include({ type: 'm.receipt', room_id: '!r:hs.test' });
  });

  it('gives the ASes that may see the same entries one shared item, and keeps the published bytes when nothing is hidden', () => {
    const a2 = registration('a2', { users: ['@a_.*'], receiveEphemeral: true });
    const all = [a, a2, b];
    const local = new Interest({
      host: {
        serverName: 'hs.test',
        authenticate: async () => null,
        userExists: async () => false,
        resolveAlias: async () => null,
        roomAliases: async () => [],
        joinedMembers: async () => [],
      },
      registrations: all,
      index: new NamespaceIndex(all),
    });
    const edu = receipt({
      $e: { 'm.read': { '@z:hs.test': { ts: 1 } }, 'm.read.private': { '@a_x:hs.test': { ts: 2 } } },
    });
    const json = JSON.stringify(edu);
    const items = ephemeralItems(edu, json, all, (userId) => local.ownersOf(userId));
    expect(items.map((i) => i.asIds)).to.deep.equal([['a', 'a2'], ['b']]);
    expect(items[0]!.json).to.equal(json);
  });

  it("counts the AS's sender as its user, and never a remote user matching the regex", () => {
    const edu = receipt({
      $e: { 'm.read.private': { '@b_bot:hs.test': { ts: 1 }, '@a_x:elsewhere.test': { ts: 2 } } },
    });
    expect(views(edu)).to.deep.equal({ b: { $e: { 'm.read.private': { '@b_bot:hs.test': { ts: 1 } } } } });
  });

  it('shows a private entry that is not a map of users to nobody', () => {
    const edu = receipt({ $e: { 'm.read': { '@z:hs.test': { ts: 1 } }, 'm.read.private': 'garbage' } });
    expect(views(edu)).to.deep.equal({
      a: { $e: { 'm.read': { '@z:hs.test': { ts: 1 } } } },
      b: { $e: { 'm.read': { '@z:hs.test': { ts: 1 } } } },
      c: { $e: { 'm.read': { '@z:hs.test': { ts: 1 } } } },
    });
  });
});
