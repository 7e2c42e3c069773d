import { chainOf, chainOfText, signingBytes, signingText, type SignedEvent } from '../../store/index.ts'
import { verifyBy } from '../signing.ts'
import { SyncProtocolError } from './messages.ts'

/**
 * Checks one received event on its own: signed by its origin over its fields and the chain value
 * of the origin's previous event (`prevChain`), and exactly the expected sequence number.
 * Returns the event's own chain value.
 */
export function verifyEvent(e: SignedEvent, expectedSeq: number, prevChain: Uint8Array): Uint8Array {
  if (e.seq !== expectedSeq) throw new SyncProtocolError(`event ${e.origin}#${e.seq} out of order (expected #${expectedSeq})`, 'malformed')
  const signing = signingBytes(e, prevChain)
  if (!e.signature || !verifyBy(e.origin, signing, e.signature)) {
    throw new SyncProtocolError(`event ${e.origin}#${e.seq} has a bad signature`, 'forged')
  }
  return chainOf(signing)
}

export interface ChainCheck {
  /** The verified events (their `chain` set), in the order given. */
  accepted: SignedEvent[]
  /** Why the rest was refused: the first bad event of some origin and everything after it. */
  error?: SyncProtocolError
}

/**
 * Verifies batches of events that continue what this node holds, one origin's events in sequence
 * order. Each origin's run is hashed along its chain and only the run's LAST signature is checked:
 * it vouches for the whole run, since every event's signed bytes include its predecessor's chain
 * value. When that check fails, the run is checked event by event so the valid prefix still counts.
 * Keeps each origin's head across calls (one instance per pull).
 */
export class ChainVerifier {
  private readonly heads = new Map<string, { seq: number; chain: Uint8Array }>()

  constructor(private readonly held: (origin: string) => { seq: number; chain: Uint8Array }) {}

  /**
   * Where the origin's chain stands: what this verifier accepted, or what the log holds when that
   * is further (another pull, from another peer, applied the same origin's events meanwhile).
   */
  private head(origin: string): { seq: number; chain: Uint8Array } {
    const cached = this.heads.get(origin)
    const held = this.held(origin)
    const h = cached && cached.seq >= held.seq ? cached : held
    this.heads.set(origin, h)
    return h
  }

  verify(events: SignedEvent[]): ChainCheck {
    const runs = new Map<string, SignedEvent[]>()
    const heldSeq = new Map<string, number>()
    for (const e of events) {
      let held = heldSeq.get(e.origin)
      if (held === undefined) heldSeq.set(e.origin, (held = this.head(e.origin).seq))
      // Already held: with several peers relaying one origin at once, a peer answers from the
      // version vector this node had when it asked. A duplicate, not a protocol error.
      if (e.seq <= held) continue
      const run = runs.get(e.origin)
      if (run) run.push(e)
      else runs.set(e.origin, [e])
    }
    const ok = new Set<SignedEvent>()
    let error: SyncProtocolError | undefined
    for (const [origin, run] of runs) {
      const start = this.head(origin)
      let seq = start.seq
      let chain = start.chain
      // Hashed as text (no byte copy per event); only the last event's bytes are needed, for its signature.
      let lastSigning: string | undefined
      let contiguous = 0
      const chains: Uint8Array[] = []
      for (const e of run) {
        if (e.seq !== seq + 1 || !e.signature) break
        lastSigning = signingText(e, chain)
        chain = chainOfText(lastSigning)
        chains.push(chain)
        seq = e.seq
        contiguous++
      }
      const last = run[contiguous - 1]
      if (contiguous > 0 && last?.signature && lastSigning !== undefined && verifyBy(origin, Buffer.from(lastSigning, 'utf8'), last.signature)) {
        for (let i = 0; i < contiguous; i++) {
          const e = run[i] as SignedEvent
          e.chain = chains[i]
          ok.add(e)
        }
        this.heads.set(origin, { seq, chain })
        if (contiguous === run.length) continue
      } else {
        // Find the first bad event; everything before it is genuine.
        let prev = start
        for (const e of run) {
          try {
            e.chain = verifyEvent(e, prev.seq + 1, prev.chain)
          } catch (err) {
            error ??= err as SyncProtocolError
            break
          }
          ok.add(e)
          prev = { seq: e.seq, chain: e.chain }
        }
        this.heads.set(origin, prev)
        if (ok.has(run[run.length - 1] as SignedEvent)) continue
      }
      if (!error) {
        const bad = run.find((e) => !ok.has(e)) as SignedEvent
        const h = this.head(origin)
        error = bad.signature
          ? new SyncProtocolError(`event ${origin}#${bad.seq} out of order (expected #${h.seq + 1})`, 'malformed')
          : new SyncProtocolError(`event ${origin}#${bad.seq} is unsigned`, 'forged')
      }
    }
    return { accepted: events.filter((e) => ok.has(e)), error }
  }
}
