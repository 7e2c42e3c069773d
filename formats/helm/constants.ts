const KiB = 1024
const MiB = 1024 * KiB

export const HELM_FORMAT = 'helm'

/**
 * Most bytes a chart archive may decompress to, all files together. Helm's own loader refuses
 * more (helm.sh/helm/v3/pkg/chart/loader MaxDecompressedChartSize), so nothing larger could be
 * installed anyway; it also bounds a gzip bomb.
 */
export const MAX_DECOMPRESSED_CHART_BYTES = 100 * MiB

/** Largest Chart.yaml read into memory for parsing. */
export const MAX_CHART_YAML_BYTES = 1 * MiB

/** Most tar entries one chart archive may hold. */
export const MAX_CHART_ENTRIES = 10_000

/** Largest provenance file (a PGP clear-signed Chart.yaml plus digests: a few KiB in practice). */
export const MAX_PROV_BYTES = 1 * MiB

/** Aliases a Chart.yaml may use (bounds YAML alias expansion, "billion laughs"). */
export const MAX_YAML_ALIASES = 100

/** Longest chart name accepted. */
export const MAX_CHART_NAME_LENGTH = 250

export const CONTENT_TYPE = {
  index: 'application/x-yaml',
  chart: 'application/gzip',
  prov: 'application/pgp-signature',
} as const
