import { statfsSync, type StatsFs } from 'node:fs'
import { statfs } from 'node:fs/promises'
import { SECOND } from './constants.ts'
import { InsufficientStorageError } from './errors.ts'

/** How often the free space of the data directory's file system is read again. */
export const FREE_SPACE_REFRESH = 2 * SECOND

export interface FreeSpaceMonitorInit {
  /** A path on the file system to watch (the data directory: temp files and SQLite live there). */
  path: string
  /** Below this many free bytes new writes are refused (InsufficientStorageError); 0 = only a full disk. */
  minFreeBytes: number
  /** @default FREE_SPACE_REFRESH */
  refreshMs?: number
}

export type FreeSpaceListener = (low: boolean, freeBytes: number) => void

/**
 * Free space of the data directory's file system, read with statfs on a timer and cached, so
 * the check at the start of every upload costs nothing. Uploads are refused early while space is
 * below the minimum, /ready reports it, and the node recovers by itself once space returns.
 */
export interface FreeSpaceMonitor {
  /** Bytes an unprivileged writer may still use, as last read; undefined before the first reading or when statfs fails. */
  readonly freeBytes: number | undefined
  readonly minFreeBytes: number
  /** Whether the last reading was below the minimum. */
  readonly low: boolean
  /** Why the node is short of space, or undefined while it is not. */
  readonly reason: string | undefined
  /**
   * Throws InsufficientStorageError while free space is below the minimum, or when `bytes` more
   * (an upload's announced size) would take it below.
   */
  check(bytes?: number): void
  /** Reads the free space now (a write just failed with ENOSPC, or the caller wants a fresh value). */
  refresh(): Promise<void>
  /** Calls `listener` whenever a reading crosses the minimum either way (to log it). */
  onChange(listener: FreeSpaceListener): void
  close(): void
}

/** Reads the free space once now (synchronously), then every `refreshMs` in the background. */
export function createFreeSpaceMonitor(init: FreeSpaceMonitorInit): FreeSpaceMonitor {
  const monitor = new StatfsMonitor(init)
  let first: StatsFs | undefined
  try {
    first = statfsSync(init.path)
  } catch {
    first = undefined
  }
  monitor.update(first)
  monitor.start()
  return monitor
}

class StatfsMonitor implements FreeSpaceMonitor {
  freeBytes: number | undefined
  low = false
  readonly minFreeBytes: number
  private timer: NodeJS.Timeout | undefined
  private readonly listeners: FreeSpaceListener[] = []
  private reading: Promise<void> | undefined
  private again: Promise<void> | undefined

  constructor(private readonly init: FreeSpaceMonitorInit) {
    this.minFreeBytes = init.minFreeBytes
  }

  start(): void {
    this.timer = setInterval(() => void this.refresh(), this.init.refreshMs ?? FREE_SPACE_REFRESH)
    this.timer.unref()
  }

  get reason(): string | undefined {
    if (!this.low) return undefined
    return `free space on the data directory's file system is ${this.freeBytes} bytes, below the minimum of ${this.minFreeBytes} (AK_MIN_FREE_BYTES)`
  }

  check(bytes = 0): void {
    if (this.low) throw new InsufficientStorageError(`insufficient storage: ${this.reason}`, this.details())
    const free = this.freeBytes
    if (free !== undefined && bytes > 0 && free - bytes < this.minFreeBytes) {
      throw new InsufficientStorageError(
        `insufficient storage: ${bytes} bytes do not fit in the ${free} bytes free (minimum ${this.minFreeBytes} kept free)`,
        this.details(),
      )
    }
  }

  refresh(): Promise<void> {
    // One reading at a time; a request while one runs gets one more after it (that one may have
    // started before the space changed). A burst of ENOSPC failures so costs two readings.
    if (this.reading) {
      this.again ??= this.reading.then(() => {
        this.again = undefined
        return this.refresh()
      })
      return this.again
    }
    this.reading = this.read().finally(() => {
      this.reading = undefined
    })
    return this.reading
  }

  onChange(listener: FreeSpaceListener): void {
    this.listeners.push(listener)
  }

  close(): void {
    clearInterval(this.timer)
  }

  private async read(): Promise<void> {
    this.update(await statfs(this.init.path).catch(() => undefined))
  }

  /** Takes a statfs reading; undefined (the directory is gone, no statfs): the writes themselves will say more. */
  update(s: StatsFs | undefined): void {
    if (!s) {
      this.freeBytes = undefined
      return
    }
    const free = s.bavail * s.bsize
    this.freeBytes = free
    const low = free < this.minFreeBytes
    if (low !== this.low) {
      this.low = low
      for (const l of this.listeners) l(low, free)
    }
  }

  private details(): Record<string, unknown> {
    return { freeBytes: this.freeBytes, minFreeBytes: this.minFreeBytes }
  }
}
