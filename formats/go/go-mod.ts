/**
 * The one thing a proxy needs from a go.mod: the module path its `module` directive declares
 * (Go module reference, "go.mod files" → "module directive"). The go command refuses a module
 * whose go.mod declares another path than the one it was required as, so upload refuses it too.
 */

/** Strips a `//` comment that is not inside a quoted string. */
function stripComment(line: string): string {
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote) {
      if (c === '\\' && quote === '"') i++
      else if (c === quote) quote = undefined
    } else if (c === '"' || c === '`') {
      quote = c
    } else if (c === '/' && line[i + 1] === '/') {
      return line.slice(0, i)
    }
  }
  return line
}

function unquote(token: string): string | undefined {
  if (token.startsWith('`')) return token.endsWith('`') && token.length >= 2 ? token.slice(1, -1) : undefined
  if (token.startsWith('"')) {
    try {
      const v: unknown = JSON.parse(token)
      return typeof v === 'string' ? v : undefined
    } catch {
      return undefined
    }
  }
  return token
}

/**
 * The path of the first `module` directive (plain, quoted or in a `module ( … )` block);
 * undefined when the file declares none or the directive is malformed.
 */
export function declaredModulePath(goMod: string): string | undefined {
  const lines = goMod.split(/\r?\n/).map((l) => stripComment(l).trim())
  for (let i = 0; i < lines.length; i++) {
    const m = /^module(?:\s+(.*))?$/.exec(lines[i]!)
    if (!m) continue
    let rest = (m[1] ?? '').trim()
    if (rest === '(') {
      // Block form: the first non-empty line inside it.
      rest = ''
      for (let j = i + 1; j < lines.length && lines[j] !== ')'; j++) {
        if (lines[j] !== '') {
          rest = lines[j]!
          break
        }
      }
    }
    if (rest === '' || /\s/.test(rest.replace(/^"(?:[^"\\]|\\.)*"$|^`[^`]*`$/, 'x'))) return undefined
    return unquote(rest)
  }
  return undefined
}

/** The go.mod the go command synthesizes for a module without one (and that proxies serve). */
export function synthesizedGoMod(modulePath: string): string {
  return `module ${modulePath}\n`
}
