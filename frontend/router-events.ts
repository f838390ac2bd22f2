/**
 * What the frontend's order router reports, as typed events (the replica's are order/events.ts):
 * logs, metrics, the status page, the simulator and the tests consume these, never log text.
 */
export type RouterEvent =
  | { type: 'election'; trigger: ElectionTrigger; reason: string }
  /**
   * A candidate could not take the lead (`replica: null`: no candidate was asked, too few are up).
   */
  | { type: 'election_refused'; replica: number | null; reason: string }
  /** The replica orders go to changed; `why` says how it was learned. */
  | {
      type: 'leader_change';
      leaderId: number | null;
      epoch: number | null;
      why: 'elected' | 'found' | 'newer' | 'none';
    };

/**
 * What made the router elect: none known yet, the leader's heartbeats, or a request that failed at
 * it.
 */
export type ElectionTrigger = 'no_leader' | 'heartbeat' | 'request_failed';

export function describeRouterEvent(e: RouterEvent): { level: 'info' | 'warn'; msg: string } {
  switch (e.type) {
    case 'election':
      return { level: 'info', msg: `electing a leader: ${e.reason}` };
    case 'election_refused':
      return {
        level: 'warn',
        msg:
          e.replica === null
            ? `no election: ${e.reason}`
            : `replica ${e.replica} could not take the lead: ${e.reason}`,
      };
    case 'leader_change':
      if (e.leaderId === null) return { level: 'warn', msg: 'no leader' };
      return {
        level: 'info',
        msg: `leader is replica ${e.leaderId} in epoch ${e.epoch}${e.why === 'newer' ? ' (a newer epoch than the one this frontend routed to)' : ''}`,
      };
  }
}
