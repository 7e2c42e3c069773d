import type { Db } from '../../store/index.ts'

/** A manifest row of an image. */
export interface ManifestRow {
  repo: string
  name: string
  digest: string
  mediaType: string
  size: number
  artifactType: string | null
  subject: string | null
  annotations: Record<string, string> | null
  createdAt: number
}

interface RawManifestRow {
  repo: string
  name: string
  digest: string
  media_type: string
  size: number
  artifact_type: string | null
  subject: string | null
  annotations: string | null
  created_at: number
}

const fromRow = (r: RawManifestRow): ManifestRow => ({
  repo: r.repo,
  name: r.name,
  digest: r.digest,
  mediaType: r.media_type,
  size: r.size,
  artifactType: r.artifact_type,
  subject: r.subject,
  annotations: r.annotations ? (JSON.parse(r.annotations) as Record<string, string>) : null,
  createdAt: r.created_at,
})

/**
 * The OCI index tables (migrations/040_oci_index.sql): image names, manifests and tags of each
 * repository. Writers must run inside artifacts.transaction() with the artifact they describe.
 */
export interface OciIndex {
  manifest(repo: string, name: string, digest: string): ManifestRow | undefined
  /** Whether any image of the repository still has this manifest. */
  manifestInRepo(repo: string, digest: string): boolean
  putManifest(row: Omit<ManifestRow, 'createdAt'>): void
  deleteManifest(repo: string, name: string, digest: string): void
  /** Manifests of the image whose subject is `digest`. */
  referrers(repo: string, name: string, digest: string): ManifestRow[]
  tag(repo: string, name: string, tag: string): string | undefined
  setTag(repo: string, name: string, tag: string, digest: string): void
  deleteTag(repo: string, name: string, tag: string): boolean
  /** Tags of the image pointing at `digest`. */
  tagsOf(repo: string, name: string, digest: string): string[]
  /** All tags of the image, sorted. */
  tags(repo: string, name: string): string[]
  hasImage(repo: string, name: string): boolean
  /** Image names of the repository, sorted. */
  images(repo: string): string[]
  /** Drops the image name once it has no manifest left. */
  pruneImage(repo: string, name: string): void
}

export function createOciIndex(db: Db): OciIndex {
  const getManifest = db.prepare('SELECT * FROM oci_manifests WHERE repo = ? AND name = ? AND digest = ?')
  const anyManifest = db.prepare('SELECT 1 FROM oci_manifests WHERE repo = ? AND digest = ? LIMIT 1')
  const insertImage = db.prepare('INSERT OR IGNORE INTO oci_images (repo, name, created_at) VALUES (?, ?, ?)')
  const upsertManifest = db.prepare(`INSERT INTO oci_manifests
    (repo, name, digest, media_type, size, artifact_type, subject, annotations, created_at)
    VALUES (@repo, @name, @digest, @mediaType, @size, @artifactType, @subject, @annotations, @now)
    ON CONFLICT (repo, name, digest) DO NOTHING`)
  const delManifest = db.prepare('DELETE FROM oci_manifests WHERE repo = ? AND name = ? AND digest = ?')
  const referrers = db.prepare('SELECT * FROM oci_manifests WHERE repo = ? AND name = ? AND subject = ? ORDER BY created_at, digest')
  const getTag = db.prepare('SELECT digest FROM oci_tags WHERE repo = ? AND name = ? AND tag = ?')
  const upsertTag = db.prepare(`INSERT INTO oci_tags (repo, name, tag, digest, updated_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (repo, name, tag) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`)
  const delTag = db.prepare('DELETE FROM oci_tags WHERE repo = ? AND name = ? AND tag = ?')
  const tagsOf = db.prepare('SELECT tag FROM oci_tags WHERE repo = ? AND name = ? AND digest = ? ORDER BY tag')
  const tags = db.prepare('SELECT tag FROM oci_tags WHERE repo = ? AND name = ? ORDER BY tag')
  const hasImage = db.prepare('SELECT 1 FROM oci_images WHERE repo = ? AND name = ?')
  const images = db.prepare('SELECT name FROM oci_images WHERE repo = ? ORDER BY name')
  const imageHasManifest = db.prepare('SELECT 1 FROM oci_manifests WHERE repo = ? AND name = ? LIMIT 1')
  const delImage = db.prepare('DELETE FROM oci_images WHERE repo = ? AND name = ?')

  return {
    manifest: (repo, name, digest) => {
      const r = getManifest.get(repo, name, digest) as RawManifestRow | undefined
      return r ? fromRow(r) : undefined
    },
    manifestInRepo: (repo, digest) => anyManifest.get(repo, digest) !== undefined,
    putManifest: (row) => {
      const now = Date.now()
      insertImage.run(row.repo, row.name, now)
      upsertManifest.run({ ...row, annotations: row.annotations ? JSON.stringify(row.annotations) : null, now })
    },
    deleteManifest: (repo, name, digest) => void delManifest.run(repo, name, digest),
    referrers: (repo, name, digest) => (referrers.all(repo, name, digest) as RawManifestRow[]).map(fromRow),
    tag: (repo, name, tag) => (getTag.get(repo, name, tag) as { digest: string } | undefined)?.digest,
    setTag: (repo, name, tag, digest) => void upsertTag.run(repo, name, tag, digest, Date.now()),
    deleteTag: (repo, name, tag) => delTag.run(repo, name, tag).changes > 0,
    tagsOf: (repo, name, digest) => (tagsOf.all(repo, name, digest) as { tag: string }[]).map((r) => r.tag),
    tags: (repo, name) => (tags.all(repo, name) as { tag: string }[]).map((r) => r.tag),
    hasImage: (repo, name) => hasImage.get(repo, name) !== undefined,
    images: (repo) => (images.all(repo) as { name: string }[]).map((r) => r.name),
    pruneImage: (repo, name) => {
      if (imageHasManifest.get(repo, name) === undefined) delImage.run(repo, name)
    },
  }
}
