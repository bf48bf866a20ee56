import { expect } from 'chai';
import { GroupCommit } from '../../lib/store/group-commit.ts';

describe('GroupCommit', () => {
  it('commits the writes of one turn together, in call order', async () => {
    const groups: number[][] = [];
    const group = new GroupCommit<number>((values) => {
      groups.push([...values]);
    });
    await Promise.all([group.add(1), group.add(2), Promise.resolve().then(() => group.add(3))]);
    await group.add(4);
    expect(groups).to.deep.equal([[1, 2, 3], [4]]);
  });

  it('gathers writes made during an asynchronous commit into the next one', async () => {
    const groups: number[][] = [];
    let release!: () => void;
    const firstCommit = new Promise<void>((resolve) => (release = resolve));
    const group = new GroupCommit<number>(async (values) => {
      groups.push([...values]);
      if (groups.length === 1) await firstCommit;
    });
    const first = group.add(1);
    await new Promise((resolve) => setImmediate(resolve));
    const later = [group.add(2), group.add(3)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(groups).to.deep.equal([[1]]);
    release();
    await Promise.all([first, ...later]);
    expect(groups).to.deep.equal([[1], [2, 3]]);
  });

  it('rejects every caller of a failed group, and only of that group', async () => {
    let calls = 0;
    const group = new GroupCommit<string>((values) => {
      calls++;
      if (values.includes('bad')) throw new Error('refused');
    });
    const outcomes = await Promise.allSettled([group.add('a'), group.add('bad')]);
    expect(outcomes.map((o) => o.status)).to.deep.equal(['rejected', 'rejected']);
    await group.add('c');
    expect(calls).to.equal(2);
  });

  it('flush() commits what is pending and waits for it', async () => {
    const committed: string[] = [];
    const group = new GroupCommit<string>(async (values) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      committed.push(...values);
    });
    const pending = group.add('x');
    await group.flush();
    expect(committed).to.deep.equal(['x']);
    await pending;
    await group.flush();
  });
});
