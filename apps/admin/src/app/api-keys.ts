import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Role } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { Kysely } from 'kysely';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

export interface Principal {
  id: number;
  name: string;
  role: Role;
}

const ROLE_RANK: Record<Role, number> = { viewer: 0, editor: 1, admin: 2 };
export const roleAllows = (have: Role, need: Role) => ROLE_RANK[have] >= ROLE_RANK[need];

/** Looks a key up without revealing it: the first 16 hex digits of its SHA-256. */
export const keyLookup = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 16);

/** `scrypt$<salt>$<hash>`: keys are stored only hashed. */
export async function hashKey(key: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(key, salt, 32);
  return `scrypt$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function keyMatches(key: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scrypt(key, Buffer.from(salt, 'base64'), expected.length);
  return timingSafeEqual(actual, expected);
}

export const generateKey = () => `shk_${randomBytes(24).toString('base64url')}`;

const CACHE_MS = 30_000;

/**
 * API keys: verified with scrypt, then remembered for a short while so that each request does
 * not pay for scrypt again (a revoked key stops working within CACHE_MS on other replicas, at
 * once on this one).
 */
export function apiKeyStore(db: Kysely<Database>) {
  const cache = new Map<string, { principal: Principal; until: number }>();
  const cacheKey = (key: string) => createHash('sha256').update(key).digest('hex');

  return {
    async authenticate(key: string): Promise<Principal | null> {
      const cached = cache.get(cacheKey(key));
      if (cached && cached.until > Date.now()) return cached.principal;
      const row = await db
        .selectFrom('api_keys')
        .select(['id', 'name', 'role', 'key_hash'])
        .where('key_prefix', '=', keyLookup(key))
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (!row || !(await keyMatches(key, row.key_hash))) return null;
      const principal = { id: row.id, name: row.name, role: row.role };
      cache.set(cacheKey(key), { principal, until: Date.now() + CACHE_MS });
      void db
        .updateTable('api_keys')
        .set({ last_used_at: new Date() })
        .where('id', '=', row.id)
        .execute()
        .catch(() => undefined);
      return principal;
    },
    async create(name: string, role: Role, key = generateKey()): Promise<{ id: number; key: string }> {
      const row = await db
        .insertInto('api_keys')
        .values({ name, role, key_prefix: keyLookup(key), key_hash: await hashKey(key) })
        .returning('id')
        .executeTakeFirstOrThrow();
      return { id: row.id, key };
    },
    /** ADMIN_BOOTSTRAP_KEY: an admin key named "bootstrap", created once. */
    async ensureBootstrap(key: string): Promise<boolean> {
      const existing = await db.selectFrom('api_keys').select('id').where('key_prefix', '=', keyLookup(key)).executeTakeFirst();
      if (existing) return false;
      await db
        .insertInto('api_keys')
        .values({ name: 'bootstrap', role: 'admin', key_prefix: keyLookup(key), key_hash: await hashKey(key) })
        .onConflict((oc) => oc.column('key_prefix').doNothing())
        .execute();
      return true;
    },
    forget(): void {
      cache.clear();
    },
  };
}
export type ApiKeyStore = ReturnType<typeof apiKeyStore>;
