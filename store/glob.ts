/**
 * The one glob dialect of the node (replication filters, remote generic mutablePaths…); no dependency: picomatch is only a
 * transitive package here). The whole string must match:
 * - `*` any run of characters except `/`; `?` one character except `/`;
 * - `**` any run of characters including `/` (`a/**` matches `a/x/y`; `**\/x` also matches `x`);
 * - `{a,b}` either alternative (not nested); `\x` a literal x. Everything else is literal.
 */
export function globToRegExp(glob: string): RegExp {
  let out = ''
  let inBraces = false
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string
    if (ch === '\\' && i + 1 < glob.length) {
      out += escapeChar(glob[++i] as string)
    } else if (ch === '*') {
      if (glob[i + 1] === '*') {
        i++
        // `**/` also matches nothing at all, so `**/x` matches `x` and `a/**/x` matches `a/x`.
        if (glob[i + 1] === '/') {
          i++
          out += '(?:.*/)?'
        } else {
          out += '.*'
        }
      } else {
        out += '[^/]*'
      }
    } else if (ch === '?') {
      out += '[^/]'
    } else if (ch === '{' && !inBraces && glob.indexOf('}', i) > i) {
      inBraces = true
      out += '(?:'
    } else if (ch === ',' && inBraces) {
      out += '|'
    } else if (ch === '}' && inBraces) {
      inBraces = false
      out += ')'
    } else {
      out += escapeChar(ch)
    }
  }
  return new RegExp(`^${out}$`, 'u')
}

function escapeChar(ch: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(ch) ? `\\${ch}` : ch
}

/** A matcher for a list of globs: true when any of them matches. */
export function globsMatcher(globs: readonly string[]): (value: string) => boolean {
  const res = globs.map(globToRegExp)
  return (value) => res.some((re) => re.test(value))
}
