import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './constants.ts'
import { PaginationInvalidError } from './errors.ts'

export interface PageRequest {
  n: number
  last: string | undefined
}

/** Reads ?n= and ?last= (distribution-spec § Listing Tags, and the catalog likewise). */
export function parsePage(query: URLSearchParams): PageRequest {
  const rawN = query.get('n')
  let n = DEFAULT_PAGE_SIZE
  if (rawN !== null && rawN !== '') {
    if (!/^\d+$/.test(rawN)) throw new PaginationInvalidError(`n must be a non-negative integer, got '${rawN}'`)
    n = Math.min(Number(rawN), MAX_PAGE_SIZE)
  }
  const last = query.get('last')
  return { n, last: last === null || last === '' ? undefined : last }
}

/**
 * One page of a lexically sorted list: the entries after `last`, at most `n`, and the link to
 * the next page when more remain (RFC 8288 `Link: <…>; rel="next"`).
 */
export function paginate(sorted: readonly string[], page: PageRequest, path: string): { items: string[]; link: string | undefined } {
  let from = 0
  if (page.last !== undefined) {
    const last = page.last
    // Binary search for the first entry strictly after `last` (sorted by code unit, as SQLite's BINARY).
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((sorted[mid] as string) <= last) lo = mid + 1
      else hi = mid
    }
    from = lo
  }
  const items = sorted.slice(from, from + page.n)
  const more = from + page.n < sorted.length && items.length > 0
  const link = more
    ? `<${path}?n=${page.n}&last=${encodeURIComponent(items[items.length - 1] as string)}>; rel="next"`
    : undefined
  return { items, link }
}

/** Merges sorted, possibly overlapping lists (a virtual repository's members) into one sorted list. */
export function mergeSorted(lists: readonly (readonly string[])[]): string[] {
  if (lists.length === 1) return [...(lists[0] as string[])]
  const all = new Set<string>()
  for (const l of lists) for (const x of l) all.add(x)
  return [...all].sort(compareCodeUnits)
}

export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
