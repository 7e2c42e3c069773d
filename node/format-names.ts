/** Repository formats this node serves, in FORMATS order (node/formats.ts checks they agree). */
export const FORMAT_NAMES: readonly string[] = ['generic', 'npm', 'pypi', 'maven', 'oci', 'cargo', 'go', 'helm']
