import type { Db } from './db.ts'
import { GroupExistsError, GroupNotFoundError, TokenNotFoundError, UserExistsError, UserNotFoundError } from './errors.ts'

export type Action = 'read' | 'write' | 'delete' | 'admin'
export const ACTIONS: readonly Action[] = ['read', 'write', 'delete', 'admin']
export type TokenAccess = 'read' | 'write' | 'admin'

export interface User {
  name: string
  email: string | null
  admin: boolean
  disabled: boolean
  createdAt: number
  updatedAt: number
}

export interface UserWithSecret extends User {
  passwordHash: string
}

export interface Group {
  name: string
  description: string
  members: string[]
}

export interface Permission {
  /** A repository key, or '*' for all repositories. */
  repo: string
  principalType: 'user' | 'group'
  principal: string
  actions: Action[]
}

export interface TokenRecord {
  id: string
  user: string
  name: string
  secretHash: string
  /** Repository keys the token may touch; ['*'] for all. */
  repos: string[]
  access: TokenAccess
  expiresAt: number | null
  createdAt: number
  lastUsedAt: number | null
}

/** Persistence of users, groups, permissions and API tokens. Secrets arrive already hashed. */
export interface AuthStore {
  getUser(name: string): UserWithSecret | undefined
  listUsers(): User[]
  createUser(input: { name: string; passwordHash: string; email?: string | null; admin?: boolean }): User
  updateUser(name: string, patch: { passwordHash?: string; email?: string | null; admin?: boolean; disabled?: boolean }): User
  deleteUser(name: string): void
  userCount(): number

  listGroups(): Group[]
  getGroup(name: string): Group | undefined
  createGroup(name: string, description?: string): Group
  deleteGroup(name: string): void
  setGroupMembers(name: string, members: string[]): Group
  groupsOf(user: string): string[]

  listPermissions(repo?: string): Permission[]
  setPermission(p: Permission): void
  deletePermission(repo: string, principalType: 'user' | 'group', principal: string): boolean
  /** Grants that apply to `user` (directly or through a group) on `repo` or '*'. */
  grantsFor(user: string, repo: string): Action[]

  createToken(t: Omit<TokenRecord, 'lastUsedAt'>): void
  getToken(id: string): TokenRecord | undefined
  listTokens(user?: string): TokenRecord[]
  deleteToken(id: string): void
  touchToken(id: string, at: number): void
}

interface UserRow {
  name: string
  password_hash: string
  email: string | null
  admin: number
  disabled: number
  created_at: number
  updated_at: number
}

function userFromRow(r: UserRow): UserWithSecret {
  return {
    name: r.name,
    passwordHash: r.password_hash,
    email: r.email,
    admin: r.admin === 1,
    disabled: r.disabled === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }
}

function publicUser(u: UserWithSecret): User {
  const { passwordHash: _omit, ...rest } = u
  return rest
}

interface TokenRow {
  id: string
  user_name: string
  name: string
  secret_hash: string
  repos: string
  access: TokenAccess
  expires_at: number | null
  created_at: number
  last_used_at: number | null
}

function tokenFromRow(r: TokenRow): TokenRecord {
  return {
    id: r.id,
    user: r.user_name,
    name: r.name,
    secretHash: r.secret_hash,
    repos: JSON.parse(r.repos) as string[],
    access: r.access,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
  }
}

function parseActions(s: string): Action[] {
  return s.split(',').filter((a): a is Action => (ACTIONS as readonly string[]).includes(a))
}

export function createAuthStore(db: Db): AuthStore {
  const s = {
    getUser: db.prepare('SELECT * FROM users WHERE name = ?'),
    listUsers: db.prepare('SELECT * FROM users ORDER BY name'),
    insertUser: db.prepare(`INSERT INTO users (name, password_hash, email, admin, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?)`),
    deleteUser: db.prepare('DELETE FROM users WHERE name = ?'),
    deleteUserPerms: db.prepare("DELETE FROM permissions WHERE principal_type = 'user' AND principal = ?"),
    userCount: db.prepare('SELECT COUNT(*) AS n FROM users'),
    listGroups: db.prepare('SELECT * FROM groups ORDER BY name'),
    getGroup: db.prepare('SELECT * FROM groups WHERE name = ?'),
    members: db.prepare('SELECT user_name FROM group_members WHERE group_name = ? ORDER BY user_name'),
    insertGroup: db.prepare('INSERT INTO groups (name, description, created_at) VALUES (?, ?, ?)'),
    deleteGroup: db.prepare('DELETE FROM groups WHERE name = ?'),
    deleteGroupPerms: db.prepare("DELETE FROM permissions WHERE principal_type = 'group' AND principal = ?"),
    clearMembers: db.prepare('DELETE FROM group_members WHERE group_name = ?'),
    addMember: db.prepare('INSERT INTO group_members (group_name, user_name) VALUES (?, ?)'),
    groupsOf: db.prepare('SELECT group_name FROM group_members WHERE user_name = ? ORDER BY group_name'),
    listPerms: db.prepare('SELECT * FROM permissions ORDER BY repo, principal_type, principal'),
    listPermsRepo: db.prepare('SELECT * FROM permissions WHERE repo = ? ORDER BY principal_type, principal'),
    upsertPerm: db.prepare(`INSERT INTO permissions (repo, principal_type, principal, actions) VALUES (?, ?, ?, ?)
      ON CONFLICT (repo, principal_type, principal) DO UPDATE SET actions = excluded.actions`),
    deletePerm: db.prepare('DELETE FROM permissions WHERE repo = ? AND principal_type = ? AND principal = ?'),
    grants: db.prepare(`SELECT actions FROM permissions WHERE repo IN (?, '*') AND (
        (principal_type = 'user' AND principal = ?) OR
        (principal_type = 'group' AND principal IN (SELECT group_name FROM group_members WHERE user_name = ?)))`),
    insertToken: db.prepare(`INSERT INTO tokens (id, user_name, name, secret_hash, repos, access, expires_at, created_at)
      VALUES (@id, @user, @name, @secretHash, @repos, @access, @expiresAt, @createdAt)`),
    getToken: db.prepare('SELECT * FROM tokens WHERE id = ?'),
    listTokens: db.prepare('SELECT * FROM tokens ORDER BY created_at'),
    listTokensUser: db.prepare('SELECT * FROM tokens WHERE user_name = ? ORDER BY created_at'),
    deleteToken: db.prepare('DELETE FROM tokens WHERE id = ?'),
    touchToken: db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ?'),
  }

  const requireUser = (name: string): UserWithSecret => {
    const r = s.getUser.get(name) as UserRow | undefined
    if (!r) throw new UserNotFoundError(`user '${name}' does not exist`)
    return userFromRow(r)
  }

  const store: AuthStore = {
    getUser: (name) => {
      const r = s.getUser.get(name) as UserRow | undefined
      return r ? userFromRow(r) : undefined
    },
    listUsers: () => (s.listUsers.all() as UserRow[]).map((r) => publicUser(userFromRow(r))),
    createUser: (input) => {
      if (s.getUser.get(input.name)) throw new UserExistsError(`user '${input.name}' already exists`)
      const now = Date.now()
      s.insertUser.run(input.name, input.passwordHash, input.email ?? null, input.admin ? 1 : 0, now, now)
      return publicUser(requireUser(input.name))
    },
    updateUser: (name, patch) => {
      const u = requireUser(name)
      db.prepare(`UPDATE users SET password_hash = ?, email = ?, admin = ?, disabled = ?, updated_at = ? WHERE name = ?`).run(
        patch.passwordHash ?? u.passwordHash,
        patch.email === undefined ? u.email : patch.email,
        (patch.admin ?? u.admin) ? 1 : 0,
        (patch.disabled ?? u.disabled) ? 1 : 0,
        Date.now(),
        name,
      )
      return publicUser(requireUser(name))
    },
    deleteUser: db.transaction((name: string) => {
      requireUser(name)
      s.deleteUserPerms.run(name)
      s.deleteUser.run(name)
    }),
    userCount: () => (s.userCount.get() as { n: number }).n,

    listGroups: () =>
      (s.listGroups.all() as { name: string; description: string }[]).map((g) => ({
        name: g.name,
        description: g.description,
        members: (s.members.all(g.name) as { user_name: string }[]).map((m) => m.user_name),
      })),
    getGroup: (name) => {
      const g = s.getGroup.get(name) as { name: string; description: string } | undefined
      if (!g) return undefined
      return {
        name: g.name,
        description: g.description,
        members: (s.members.all(name) as { user_name: string }[]).map((m) => m.user_name),
      }
    },
    createGroup: (name, description = '') => {
      if (s.getGroup.get(name)) throw new GroupExistsError(`group '${name}' already exists`)
      s.insertGroup.run(name, description, Date.now())
      return { name, description, members: [] }
    },
    deleteGroup: db.transaction((name: string) => {
      if (!s.getGroup.get(name)) throw new GroupNotFoundError(`group '${name}' does not exist`)
      s.deleteGroupPerms.run(name)
      s.deleteGroup.run(name)
    }),
    setGroupMembers: db.transaction((name: string, members: string[]) => {
      if (!s.getGroup.get(name)) throw new GroupNotFoundError(`group '${name}' does not exist`)
      for (const m of members) requireUser(m)
      s.clearMembers.run(name)
      for (const m of new Set(members)) s.addMember.run(name, m)
      return store.getGroup(name) as Group
    }),
    groupsOf: (user) => (s.groupsOf.all(user) as { group_name: string }[]).map((r) => r.group_name),

    listPermissions: (repo) =>
      ((repo ? s.listPermsRepo.all(repo) : s.listPerms.all()) as {
        repo: string
        principal_type: 'user' | 'group'
        principal: string
        actions: string
      }[]).map((r) => ({ repo: r.repo, principalType: r.principal_type, principal: r.principal, actions: parseActions(r.actions) })),
    setPermission: (p) => {
      if (p.principalType === 'user') requireUser(p.principal)
      else if (!s.getGroup.get(p.principal)) throw new GroupNotFoundError(`group '${p.principal}' does not exist`)
      s.upsertPerm.run(p.repo, p.principalType, p.principal, [...new Set(p.actions)].join(','))
    },
    deletePermission: (repo, type, principal) => s.deletePerm.run(repo, type, principal).changes > 0,
    grantsFor: (user, repo) => {
      const rows = s.grants.all(repo, user, user) as { actions: string }[]
      return [...new Set(rows.flatMap((r) => parseActions(r.actions)))]
    },

    createToken: (t) => {
      s.insertToken.run({ ...t, repos: JSON.stringify(t.repos) })
    },
    getToken: (id) => {
      const r = s.getToken.get(id) as TokenRow | undefined
      return r ? tokenFromRow(r) : undefined
    },
    listTokens: (user) => ((user ? s.listTokensUser.all(user) : s.listTokens.all()) as TokenRow[]).map(tokenFromRow),
    deleteToken: (id) => {
      if (s.deleteToken.run(id).changes === 0) throw new TokenNotFoundError(`token '${id}' does not exist`)
    },
    touchToken: (id, at) => void s.touchToken.run(at, id),
  }
  return store
}
