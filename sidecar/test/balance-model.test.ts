// A model of N shard Leases shared by replicas that each follow planBalance (src/shards/balance.ts) once a
// retry period, driven through random joins (one, or two at once as in a rollout), graceful leaves and crashes: from every membership change
// the shares must be fair (each live replica within floor/ceil of N / live, every shard held) within
// 2 x LD, and no shard ever has two holders. Seeded, so a failure names the sequence that broke it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LeaseView } from '../src/election-state.ts';
import { planBalance } from '../src/shards/balance.ts';
import { shardCountAnnotation } from '../src/shards/shard-strategy.ts';

const RP = 2_000;
const LD = 15_000;

interface ShardState {
  holder: string;
  /** Monotonic time the holder last renewed (a crashed one stops renewing). */
  renewedAt: number;
  preferredHolder: string | undefined;
  /** When the preference last changed (every replica sees it at once here). */
  preferenceSince: number;
  changedAt: number;
}

/** A small deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Model {
  readonly shards: ShardState[];
  readonly live = new Set<string>();
  readonly crashed = new Set<string>();
  now = 0;
  #next = 0;

  constructor(count: number) {
    this.shards = Array.from({ length: count }, () => ({
      holder: '',
      renewedAt: Number.NEGATIVE_INFINITY,
      preferredHolder: undefined,
      preferenceSince: Number.NEGATIVE_INFINITY,
      changedAt: 0,
    }));
  }

  join(): string {
    const name = `r${this.#next++}_x`;
    this.live.add(name);
    return name;
  }

  /** SIGTERM: every shard released (the preference annotation stays, as on a real release). */
  leave(name: string): void {
    this.live.delete(name);
    for (const s of this.shards) if (s.holder === name) Object.assign(s, { holder: '', changedAt: this.now });
  }

  /** SIGKILL: its shards stay held until they expire. */
  crash(name: string): void {
    this.live.delete(name);
    this.crashed.add(name);
  }

  views(identity: string): LeaseView[] {
    return this.shards.map((s) => {
      const leading = s.holder === identity;
      const expired = s.holder !== '' && this.now >= s.renewedAt + LD;
      return {
        holder: s.holder,
        preferredHolder: s.preferredHolder,
        expiresAt:
          leading || s.holder === '' ? Number.NEGATIVE_INFINITY : expired ? this.now : s.renewedAt + LD,
        changedAt: s.changedAt,
        preferenceSince: s.preferenceSince,
        leading,
        known: true,
        annotations: { [shardCountAnnotation]: String(this.shards.length) },
      };
    });
  }

  /** One retry period: every live replica renews and acts on its plan, in a random order. */
  step(rand: () => number): void {
    this.now += RP;
    const order = [...this.live].sort(() => rand() - 0.5);
    for (const name of order) {
      for (const s of this.shards) if (s.holder === name) s.renewedAt = this.now;
      const plan = planBalance(this.views(name), name, this.now, LD);
      for (const [i, until] of plan.holdOffUntil.entries()) {
        const s = this.shards[i] as ShardState;
        const free = s.holder === '' || this.now >= s.renewedAt + LD;
        if (until <= this.now && free && s.holder !== name) {
          // An acquisition settles a preference for us.
          Object.assign(s, { holder: name, renewedAt: this.now, changedAt: this.now });
          if (s.preferredHolder !== undefined)
            Object.assign(s, { preferredHolder: undefined, preferenceSince: this.now });
        }
      }
      if (plan.giveAway !== undefined) {
        const s = this.shards[plan.giveAway] as ShardState;
        Object.assign(s, { holder: '', changedAt: this.now });
      }
      // One request write per retry period, a withdrawal first (as ShardSet does).
      if (plan.withdraw !== undefined) {
        const s = this.shards[plan.withdraw] as ShardState;
        if (s.preferredHolder === name)
          Object.assign(s, { preferredHolder: undefined, preferenceSince: this.now });
      } else if (plan.askFor !== undefined) {
        const s = this.shards[plan.askFor] as ShardState;
        if (!s.preferredHolder) Object.assign(s, { preferredHolder: name, preferenceSince: this.now });
      }
    }
  }

  /** Fair: every shard held by a live replica, each live replica within floor/ceil of N / live. */
  fair(): boolean {
    if (this.live.size === 0) return true;
    const counts = new Map([...this.live].map((r) => [r, 0]));
    for (const s of this.shards) {
      if (!this.live.has(s.holder)) return false;
      counts.set(s.holder, (counts.get(s.holder) ?? 0) + 1);
    }
    const lo = Math.floor(this.shards.length / this.live.size);
    const hi = Math.ceil(this.shards.length / this.live.size);
    return [...counts.values()].every((c) => c >= lo && c <= hi);
  }

  describe(): string {
    return this.shards
      .map((s, i) => `${i}:${s.holder || '-'}${s.preferredHolder ? `>${s.preferredHolder}` : ''}`)
      .join(' ');
  }
}

test('from any join, leave or crash, the shares are fair within 2 x LD (random sequences, 8 and 5 shards)', () => {
  for (const count of [8, 5]) {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = random(seed * 7919 + count);
      const model = new Model(count);
      model.join();
      const history: string[] = [];
      for (let change = 0; change < 12; change++) {
        const members = [...model.live];
        const roll = rand();
        if (members.length < 2 || (roll < 0.35 && members.length < 5)) history.push(`join ${model.join()}`);
        else if (roll < 0.5 && members.length < 4)
          history.push(`join ${model.join()} and ${model.join()} at once`);
        else if (roll < 0.8) {
          const who = members[Math.floor(rand() * members.length)] as string;
          model.leave(who);
          history.push(`leave ${who}`);
        } else {
          const who = members[Math.floor(rand() * members.length)] as string;
          model.crash(who);
          history.push(`crash ${who}`);
        }
        // A crash leaves its shards held for up to LD; fair within 2 x LD of that, too.
        const budget =
          Math.ceil((2 * LD) / RP) + (history.at(-1)?.startsWith('crash') ? Math.ceil(LD / RP) : 0);
        let steps = 0;
        while (!model.fair()) {
          assert.ok(
            steps++ < budget,
            `${count} shards, seed ${seed}: not fair ${budget * RP} ms after ${history.join(', ')}\n${model.describe()}`,
          );
          model.step(rand);
        }
        for (let i = 0; i < 1 + Math.floor(rand() * 3); i++) model.step(rand);
      }
    }
  }
});
