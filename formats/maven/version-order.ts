/*
 * Maven's version order (org.apache.maven.artifact.versioning.ComparableVersion, Maven 3):
 * versions split into numbers and qualifiers at '.', '-' and digit/letter transitions; '-'
 * and transitions open a nested list; trailing zeros and release qualifiers are dropped; known
 * qualifiers sort alpha < beta < milestone < rc = cr < snapshot < '' = ga = final = release < sp,
 * unknown ones after them alphabetically. Written from the documented algorithm:
 * https://maven.apache.org/pom.html#version-order-specification
 */

type Item = { t: 'int'; v: bigint } | { t: 'str'; v: string } | { t: 'list'; v: Item[] }

const QUALIFIERS = ['alpha', 'beta', 'milestone', 'rc', 'snapshot', '', 'sp']
const ALIASES: Record<string, string> = { ga: '', final: '', release: '', cr: 'rc' }
const RELEASE_INDEX = String(QUALIFIERS.indexOf(''))

function comparableQualifier(q: string): string {
  const i = QUALIFIERS.indexOf(q)
  return i < 0 ? `${QUALIFIERS.length}-${q}` : String(i)
}

function stringItem(value: string, followedByDigit: boolean): Item {
  if (followedByDigit && value.length === 1) {
    if (value === 'a') value = 'alpha'
    else if (value === 'b') value = 'beta'
    else if (value === 'm') value = 'milestone'
  }
  return { t: 'str', v: ALIASES[value] ?? value }
}

function parseItem(isDigit: boolean, buf: string): Item {
  return isDigit ? { t: 'int', v: BigInt(buf) } : stringItem(buf, false)
}

function isNull(item: Item): boolean {
  if (item.t === 'int') return item.v === 0n
  if (item.t === 'str') return comparableQualifier(item.v) === RELEASE_INDEX
  return item.v.length === 0
}

function normalize(list: Item[]): void {
  for (let i = list.length - 1; i >= 0; i--) {
    const last = list[i] as Item
    if (isNull(last)) list.splice(i, 1)
    else if (last.t !== 'list') break
  }
}

function parse(version: string): Item[] {
  const v = version.toLowerCase()
  const root: Item[] = []
  let list = root
  const stack: Item[][] = [root]
  let isDigit = false
  let start = 0
  const open = () => {
    const child: Item[] = []
    list.push({ t: 'list', v: child })
    list = child
    stack.push(child)
  }
  for (let i = 0; i < v.length; i++) {
    const c = v[i] as string
    if (c === '.') {
      list.push(i === start ? { t: 'int', v: 0n } : parseItem(isDigit, v.slice(start, i)))
      start = i + 1
    } else if (c === '-') {
      list.push(i === start ? { t: 'int', v: 0n } : parseItem(isDigit, v.slice(start, i)))
      start = i + 1
      open()
    } else if (c >= '0' && c <= '9') {
      if (!isDigit && i > start) {
        list.push(stringItem(v.slice(start, i), true))
        start = i
        open()
      }
      isDigit = true
    } else {
      if (isDigit && i > start) {
        list.push(parseItem(true, v.slice(start, i)))
        start = i
        open()
      }
      isDigit = false
    }
  }
  if (v.length > start) list.push(parseItem(isDigit, v.slice(start)))
  while (stack.length > 0) normalize(stack.pop() as Item[])
  return root
}

function compareItem(a: Item | undefined, b: Item | undefined): number {
  if (a === undefined) return b === undefined ? 0 : -compareItem(b, undefined)
  if (a.t === 'int') {
    if (b === undefined) return a.v === 0n ? 0 : 1
    if (b.t === 'int') return a.v < b.v ? -1 : a.v > b.v ? 1 : 0
    return 1
  }
  if (a.t === 'str') {
    if (b === undefined) return Math.sign(cmp(comparableQualifier(a.v), RELEASE_INDEX))
    if (b.t === 'str') return Math.sign(cmp(comparableQualifier(a.v), comparableQualifier(b.v)))
    return -1
  }
  if (b === undefined) {
    for (const item of a.v) {
      const r = compareItem(item, undefined)
      if (r !== 0) return r
    }
    return 0
  }
  if (b.t === 'int') return -1
  if (b.t === 'str') return 1
  const n = Math.max(a.v.length, b.v.length)
  for (let i = 0; i < n; i++) {
    const r = compareItem(a.v[i], b.v[i])
    if (r !== 0) return r
  }
  return 0
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Compares two Maven versions: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  return compareItem({ t: 'list', v: parse(a) }, { t: 'list', v: parse(b) })
}
