/**
 * A non-empty string found at `path` in an artifact's properties (the JSON a format recorded at
 * upload), or undefined: what a format's packageName hook reads. Properties replicated from a
 * peer are hostile input, so every step is checked.
 */
export function propertyText(properties: Record<string, unknown>, ...path: string[]): string | undefined {
  let at: unknown = properties
  for (const key of path) {
    if (at === null || typeof at !== 'object' || Array.isArray(at)) return undefined
    at = (at as Record<string, unknown>)[key]
  }
  return typeof at === 'string' && at !== '' ? at : undefined
}
