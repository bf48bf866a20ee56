/**
 * Namespace regexes run on ids that anonymous clients choose. Two regexes real bridges write,
 * `@irc_(\w|\d)*:hs` and `@irc_(\w+\.?)+:hs`, make a backtracking engine take exponential time on a
 * near miss: a 47-character id that fails only at its end blocked the event loop for 30-88 s.
 * Translated for RE2 they run in linear time: the profile lookup with that id and a `/versions`
 * sent beside it are both answered at once.
 *
 * Each case runs the mounted plugin in a child process killed 5 s after it is ready, so that a
 * stalled event loop fails the spec instead of hanging it. No timing is asserted beyond that.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./support/hostile-regex-child.ts', import.meta.url));
const KILL_AFTER_MS = 5_000;
/** Digits match both `\w` and `\d`; the final `-` matches neither, so every way of splitting them is tried. */
const HOSTILE_ID = `@irc_${'1'.repeat(47)}-:hs.test`;

interface ChildAnswer {
  readonly profile: { readonly status: number };
  readonly versions: { readonly status: number };
  readonly asQueries: number;
}

/** Runs the child; the kill timer starts once the child is ready, so a slow start-up does not count. */
function runChild(regex: string, userId: string): Promise<ChildAnswer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, regex, userId], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (timer === undefined && stdout.startsWith('ready\n')) {
        timer = setTimeout(() => {
          killed = true;
          child.kill('SIGKILL');
        }, KILL_AFTER_MS);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (killed)
        reject(
          new Error(
            `child for ${JSON.stringify(regex)} still running ${KILL_AFTER_MS} ms after it was ready: the event loop stalled`,
          ),
        );
      else if (code !== 0) reject(new Error(`child for ${JSON.stringify(regex)} exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildAnswer);
    });
  });
}

describe('hostile ids against backtracking-prone namespace regexes', function () {
  this.timeout(KILL_AFTER_MS + 30_000); // tsx start-up on a loaded machine

  for (const regex of ['@irc_(\\w|\\d)*:hs', '@irc_(\\w+\\.?)+:hs']) {
    it(`answers GET /profile for a near-miss id at once with ${regex}, and /versions beside it`, async () => {
      const answer = await runChild(regex, HOSTILE_ID);
      // Not in the namespace, so the AS is not asked and the homeserver answers for itself.
      expect(answer.asQueries).to.equal(0);
      expect(answer.profile.status).to.be.below(500);
      expect(answer.versions.status).to.equal(200);
    });
  }

  it('still matches the ids those regexes are for', async () => {
    const answer = await runChild('@irc_(\\w|\\d)*:hs', '@irc_123:hs.test');
    expect(answer.asQueries).to.equal(1);
    expect(answer.versions.status).to.equal(200);
  });
});
