/**
 * compose.yaml and deploy/haproxy.cfg are the tested multi-host topology, not a second one:
 * this machine has no container engine to run them, so this test holds them to the one
 * definition the namespace run uses (scripts/lib/hosts/topology.ts via compose.ts): the same
 * services, commands, variables and values, ports, volumes, readiness healthchecks, and the
 * same load balancer configuration.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../scripts/lib/build/build.ts';
import {
  COMPOSE_SECRET,
  composeHaproxyConfig,
  DATA_HOSTS,
  DEPLOY_HAPROXY_CFG,
  expectedCompose,
  volumeOf,
} from '../../scripts/lib/hosts/compose.ts';
import { haproxyConfig } from '../../scripts/lib/hosts/haproxy.ts';
import { HOSTS, kindOf, SERVICE_HOSTS, type HostName } from '../../scripts/lib/hosts/topology.ts';

interface ComposeService {
  command?: string[];
  secrets?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  build?: unknown;
  image?: string;
}

const compose = async () =>
  parse(await fs.readFile(path.join(REPO_ROOT, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
    volumes: Record<string, unknown>;
    secrets?: Record<string, { environment?: string; file?: string }>;
  };

describe('compose.yaml', () => {
  it('has exactly the hosts of the tested topology', async () => {
    expect(Object.keys((await compose()).services).sort()).toEqual([...HOSTS].sort());
  });

  it('gives every service the command, variables, volume, ports and dependencies the topology does', async () => {
    const { services } = await compose();
    const expected = expectedCompose();
    for (const h of HOSTS) {
      const got = services[h]!;
      const want = expected[h as HostName];
      if (want.command) expect(got.command, `${h} command`).toEqual(want.command);
      if (want.environment) expect(got.environment, `${h} environment`).toEqual(want.environment);
      expect(got.volumes ?? [], `${h} volumes`).toEqual(want.volumes);
      expect(got.secrets ?? [], `${h} secrets`).toEqual(want.secrets);
      expect(got.ports ?? [], `${h} ports`).toEqual(want.ports);
      expect(Object.keys(got.depends_on ?? {}).sort(), `${h} depends_on`).toEqual(
        [...want.dependsOn].sort(),
      );
      for (const dep of Object.values(got.depends_on ?? {}))
        expect(dep.condition).toBe('service_started');
    }
  });

  it('gives every service the cluster secret from the environment of whoever runs compose, never from a file in the repository', async () => {
    const { services, secrets } = await compose();
    expect(secrets?.[COMPOSE_SECRET]).toEqual({ environment: 'CLUSTER_SECRET' });
    for (const h of SERVICE_HOSTS) {
      expect(services[h]!.secrets, `${h} secrets`).toEqual([COMPOSE_SECRET]);
      expect(services[h]!.environment?.CLUSTER_SECRET_FILE, `${h} CLUSTER_SECRET_FILE`).toBe(
        `/run/secrets/${COMPOSE_SECRET}`,
      );
    }
  });

  it('checks readiness (not liveness) on the port each service listens on', async () => {
    const { services } = await compose();
    const expected = expectedCompose();
    for (const h of SERVICE_HOSTS) {
      const test = services[h]!.healthcheck?.test.join(' ') ?? '';
      expect(test, `${h} healthcheck`).toContain(`fetch('${expected[h].healthcheckUrl}')`);
      if (kindOf(h) !== 'catalog') expect(test).toContain('/ready');
    }
  });

  it('builds the services from this repository and keeps each data directory on a named volume', async () => {
    const { services, volumes } = await compose();
    for (const h of SERVICE_HOSTS) expect(services[h]!.build, `${h} build`).toBe('.');
    expect(Object.keys(volumes).sort()).toEqual(DATA_HOSTS.map(volumeOf).sort());
  });
});

describe('deploy/haproxy.cfg', () => {
  it('is the load balancer configuration rendered from the topology for compose', async () => {
    const file = await fs.readFile(path.join(REPO_ROOT, DEPLOY_HAPROXY_CFG), 'utf8');
    // On a mismatch, re-render it: npx tsx -e "import('./scripts/lib/hosts/compose.ts').then((m) =>
    // m.writeDeployHaproxy())"
    expect(file).toBe(composeHaproxyConfig());
  });

  it('routes to ready frontends, falls back to live ones, and never replays a POST without an Idempotency-Key', () => {
    const cfg = composeHaproxyConfig();
    expect(cfg).toMatch(/backend ready\n[\s\S]*option httpchk GET \/ready/);
    expect(cfg).toMatch(/backend live\n[\s\S]*option httpchk GET \/health/);
    expect(cfg).toContain('use_backend ready if { nbsrv(ready) gt 0 }');
    expect(cfg).toContain(
      'http-request disable-l7-retry if METH_POST !{ req.hdr(idempotency-key) -m found }',
    );
    expect(cfg).toMatch(/retry-on conn-failure empty-response\n/);
  });

  it('is a configuration haproxy accepts, for compose and for the namespace run', async () => {
    let haproxy: string | null = null;
    try {
      haproxy = execFileSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' }).trim();
    } catch {
      // reported below
    }
    if (!haproxy) {
      console.warn(
        'haproxy is not installed: only the text of the load balancer configuration was checked (CI installs it: apt-get install haproxy)',
      );
      return;
    }
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'toystore-haproxy-'));
    try {
      const namespaces = haproxyConfig(
        { address: () => '10.213.0.21', bind: () => '', dataDir: () => '', secretFile: () => '' },
        { bind: '127.0.0.1' },
      );
      for (const [name, text] of [
        ['compose.cfg', composeHaproxyConfig()],
        ['netns.cfg', namespaces],
      ] as const) {
        await fs.writeFile(path.join(dir, name), text);
        expect(
          () => execFileSync(haproxy, ['-c', '-q', '-f', path.join(dir, name)], { stdio: 'pipe' }),
          name,
        ).not.toThrow();
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
