import { expect } from 'chai';
import { Deadline } from '../../lib/client/deadline.ts';
import { AppserviceRequestError } from '../../lib/errors.ts';
import { isUnreachable, QueryGate } from '../../lib/query/query-gate.ts';

const refusal = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(AppserviceRequestError);
    return (error as AppserviceRequestError).kind;
  }
  throw new Error('not refused');
};

describe('QueryGate', () => {
  const deadlines: Deadline[] = [];
  const deadline = (ms = 5_000): Deadline => {
    const d = new Deadline(ms);
    deadlines.push(d);
    return d;
  };
  afterEach(() => deadlines.splice(0).forEach((d) => d.dispose()));

  it('admits up to `concurrency` at once, queues up to `queueLimit` in order, refuses the rest as overloaded', async () => {
    const gate = new QueryGate('irc', { concurrency: 2, queueLimit: 2, downForMs: 1_000 });
    expect(gate.enter(deadline())).to.equal(undefined);
    expect(gate.enter(deadline())).to.equal(undefined);
    const order: number[] = [];
    const third = gate.enter(deadline())!.then(() => order.push(3));
    const fourth = gate.enter(deadline())!.then(() => order.push(4));
    expect(gate.refusing()).to.equal(true);
    expect(refusal(() => gate.enter(deadline()))).to.equal('overloaded');
    gate.leave();
    gate.leave();
    await Promise.all([third, fourth]);
    expect(order).to.deep.equal([3, 4]);
    expect(gate.load).to.deep.equal({ inFlight: 2, waiting: 0 });
  });

  it('a waiter whose deadline passes leaves the queue, refused as overloaded (the AS was never asked)', async () => {
    const gate = new QueryGate('irc', { concurrency: 1, queueLimit: 5, downForMs: 1_000 });
    expect(gate.enter(deadline()), 'admitted at once').to.equal(undefined);
    const error = await gate.enter(deadline(20))!.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(AppserviceRequestError).and.include({ kind: 'overloaded' });
    expect(gate.load.waiting).to.equal(0);
    expect(gate.isDown).to.equal(false);
  });

  it('three unreachable attempts in a row mark it down for everyone: waiters refused, new callers refused, one probe after downForMs', async () => {
    const gate = new QueryGate('irc', { concurrency: 1, queueLimit: 5, downForMs: 50 });
    expect(gate.enter(deadline()), 'admitted at once').to.equal(undefined);
    const waiting = gate.enter(deadline())!.then(
      () => 'admitted',
      (e: AppserviceRequestError) => e.kind,
    );
    gate.report('unreachable');
    gate.report('answered'); // any answer resets the count
    gate.report('unreachable');
    gate.report('unreachable');
    expect(gate.isDown).to.equal(false);
    gate.report('unreachable');
    expect(gate.isDown).to.equal(true);
    expect(await waiting).to.equal('down');
    gate.leave();
    expect(refusal(() => gate.enter(deadline()))).to.equal('down');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(gate.enter(deadline()), 'the probe').to.equal(undefined);
    expect(
      refusal(() => gate.enter(deadline())),
      'others while it probes',
    ).to.equal('down');
    expect(gate.report('answered'), 'the probe ended a down period').to.equal(true);
    gate.leave();
    expect(gate.isDown).to.equal(false);
    expect(gate.enter(deadline())).to.equal(undefined);
  });

  it('a failed probe keeps it down; an abandoned one lets the next caller probe', async () => {
    const gate = new QueryGate('irc', { concurrency: 4, queueLimit: 5, downForMs: 20 });
    gate.markDown();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(gate.enter(deadline()), 'admitted at once').to.equal(undefined);
    gate.report('abandoned');
    gate.leave();
    expect(gate.enter(deadline()), 'next probe').to.equal(undefined);
    gate.report('unreachable');
    gate.leave();
    expect(refusal(() => gate.enter(deadline()))).to.equal('down');
  });

  it('unreachable means connection, timeout, 502/503/504; any other answer means reachable', () => {
    const status = (code: number) => new AppserviceRequestError('irc', 'status', `HTTP ${code}`, { status: code });
    expect(isUnreachable(new AppserviceRequestError('irc', 'connection', 'refused'))).to.equal(true);
    expect(isUnreachable(new AppserviceRequestError('irc', 'timeout', 'slow'))).to.equal(true);
    for (const code of [502, 503, 504]) expect(isUnreachable(status(code))).to.equal(true);
    for (const code of [500, 429, 403, 404]) expect(isUnreachable(status(code))).to.equal(false);
    expect(isUnreachable(new AppserviceRequestError('irc', 'body', 'garbage'))).to.equal(false);
    expect(isUnreachable(new Error('bug'))).to.equal(false);
  });
});
