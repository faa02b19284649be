// test/platforms/medusa/medusa-config.js — the smallest Medusa 2.x configuration the harness
// needs: the throwaway cluster (socket only: DATABASE_URL names the database, libpq's
// PGHOST/PGPORT/PGUSER the socket and the role, as medusa.sh sets them), no admin UI, no
// Redis (in-memory event bus, cache, workflow engine and locking: Medusa's defaults).
// medusa.sh copies it into a project directory next to the cluster, whose node_modules is
// the install in the cache directory.
const { defineConfig } = require('@medusajs/framework/utils');

module.exports = defineConfig({
    projectConfig: {
        databaseUrl: process.env.DATABASE_URL,
        databaseLogging: false,
        http: {
            jwtSecret: 'loginas-test-only',
            cookieSecret: 'loginas-test-only',
            storeCors: 'http://127.0.0.1',
            adminCors: 'http://127.0.0.1',
            authCors: 'http://127.0.0.1',
        },
    },
    admin: { disable: true },
});
