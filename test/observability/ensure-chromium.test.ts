/**
 * scripts/ensure-chromium.sh is the one owner of "where is the browser" (the status page's browser
 * test asks it with --find). Run for real against a PATH of fake browsers and a fake apt-get that
 * records its calls: an explicit CHROMIUM_PATH wins and is never replaced by a guess, the usual
 * names are found in order, --find never installs, and when nothing is found it says what it will
 * install and why before it does.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../scripts/ensure-chromium.sh', import.meta.url));
let bin: string;
let aptLog: string;

function executable(file: string, body: string): string {
  fs.writeFileSync(file, `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  return file;
}

function run(args: string[] = [], env: Record<string, string> = {}) {
  // Only our bin dir on PATH (the machine's own chromium lives in /usr/bin), plus `id` the script
  // needs.
  const r = spawnSync('/bin/bash', [SCRIPT, ...args], {
    encoding: 'utf8',
    env: { PATH: bin, CI: 'true', ...env },
  });
  return {
    code: r.status,
    stdout: r.stdout.trim(),
    stderr: r.stderr,
    apt: fs.existsSync(aptLog) ? fs.readFileSync(aptLog, 'utf8').trim().split('\n') : [],
  };
}

beforeEach(() => {
  bin = fs.mkdtempSync(path.join(os.tmpdir(), 'toystore-ensure-chromium-'));
  aptLog = path.join(bin, 'apt.log');
  fs.symlinkSync('/usr/bin/id', path.join(bin, 'id'));
});
afterEach(() => fs.rmSync(bin, { recursive: true, force: true }));

describe('scripts/ensure-chromium.sh', () => {
  it('prints CHROMIUM_PATH when it is an executable, even with browsers on PATH', () => {
    executable(path.join(bin, 'chromium'), 'exit 0');
    const mine = executable(path.join(bin, 'my-chrome'), 'exit 0');
    expect(run(['--find'], { CHROMIUM_PATH: mine })).toMatchObject({ code: 0, stdout: mine });
  });

  it('when CHROMIUM_PATH is wrong, then it fails naming it, and neither guesses nor installs', () => {
    executable(path.join(bin, 'chromium'), 'exit 0');
    executable(path.join(bin, 'apt-get'), `echo "$*" >> ${aptLog}`);
    for (const args of [['--find'], []]) {
      const r = run(args, { CHROMIUM_PATH: path.join(bin, 'nope') });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(
        `CHROMIUM_PATH=${path.join(bin, 'nope')} is not an executable file`,
      );
      expect(r.apt).toEqual([]);
    }
  });

  it('finds the usual names on PATH, in order: chromium-browser before google-chrome', () => {
    executable(path.join(bin, 'google-chrome'), 'exit 0');
    expect(run(['--find']).stdout).toBe(path.join(bin, 'google-chrome'));
    executable(path.join(bin, 'chromium-browser'), 'exit 0');
    expect(run(['--find']).stdout).toBe(path.join(bin, 'chromium-browser'));
  });

  it('with --find and no browser, it exits 1 saying where it looked, and installs nothing', () => {
    executable(path.join(bin, 'apt-get'), `echo "$*" >> ${aptLog}`);
    const r = run(['--find']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /no Chromium or Chrome found \(looked at \$CHROMIUM_PATH \(unset\) and for chromium chromium-browser google-chrome-stable google-chrome chrome on PATH\)/,
    );
    expect(r.apt).toEqual([]);
  });

  it("with no browser, it says what it will install and why, installs Debian's chromium, and prints where it is", () => {
    // The fake apt-get "installs" chromium into the PATH the script searches.
    executable(
      path.join(bin, 'apt-get'),
      `echo "$*" >> ${aptLog}\nif [ "$1" = install ]; then printf '#!/bin/bash\\n' > ${bin}/chromium; /bin/chmod +x ${bin}/chromium; fi`,
    );
    const r = run();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(path.join(bin, 'chromium'));
    expect(r.stderr).toContain(
      'npm test opens the status page in a headless browser (test/e2e/status-page.test.ts), so it will now install',
    );
    expect(r.stderr).toMatch(
      /Debian's chromium package .* apt-get update && (sudo )?apt-get install -y chromium/,
    );
    expect(r.stderr).toContain('set CHROMIUM_PATH=/path/to/chrome');
    expect(r.apt).toEqual(['update -q', 'install -y -q chromium']);
  });

  it('without apt-get and no browser, it fails telling how to provide one', () => {
    const r = run();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a Debian\/Ubuntu system \(no apt-get\)/);
    expect(r.stderr).toContain('set CHROMIUM_PATH=/path/to/chrome');
  });
});
