// test/platforms/vendure/common.js — the Vendure configuration and helpers shared by
// seed.js (schema + data, as the schema owner) and drive.js (the storefront, in a
// Login as Customer session).  Both are run by test/platforms/run.sh with NODE_PATH
// pointing at the Vendure install in the cache directory.
'use strict';
process.env.VENDURE_DISABLE_TELEMETRY = 'true';

const {
    DefaultLogger, LogLevel, dummyPaymentHandler, RequestContextService, TransactionalConnection,
    User, Channel, ChannelService,
} = require('@vendure/core');

function env(name) {
    const v = process.env[name];
    if (v === undefined || v === '') throw new Error(`${name} is not set`);
    return v;
}

// One Vendure configuration; only the database role and synchronize differ between
// the schema owner's run (seed.js) and the storefront's (drive.js).
function vendureConfig({ username, synchronize, subscribers = [], logger, middleware = [] }) {
    return {
        apiOptions: { port: 0, hostname: '127.0.0.1', adminApiPath: 'admin-api', shopApiPath: 'shop-api', middleware },
        authOptions: {
            tokenMethod: 'bearer',
            requireVerification: false,
            superadminCredentials: { identifier: 'superadmin', password: 'superadmin' },
        },
        dbConnectionOptions: {
            type: 'postgres',
            host: env('PGHOST'),            // the cluster's socket directory: no TCP
            port: Number(env('PGPORT')),
            username,
            database: env('PGDATABASE'),
            synchronize,
            logging: false,
            subscribers,
            ...(logger ? { logger } : {}),
        },
        paymentOptions: { paymentMethodHandlers: [dummyPaymentHandler] },
        logger: new DefaultLogger({ level: process.env.VENDURE_LOG_DEBUG ? LogLevel.Debug : LogLevel.Error }),
        plugins: [],
    };
}

// A RequestContext as Vendure's own middleware builds it for a request:
// apiType 'admin' for the superadmin (seeding), 'shop' for a customer's user.
async function makeCtx(app, { apiType, userId, channel }) {
    const connection = app.get(TransactionalConnection);
    let user;
    if (userId !== undefined) {
        user = await connection.rawConnection.getRepository(User).findOne({
            where: { id: userId },
            relations: ['roles', 'roles.channels'],
        });
        if (!user) throw new Error(`no Vendure user ${userId}`);
    }
    if (!channel) channel = await app.get(ChannelService).getDefaultChannel();
    return app.get(RequestContextService).create({ apiType, user, channelOrToken: channel });
}

async function channelByCode(app, code) {
    return app.get(TransactionalConnection).rawConnection.getRepository(Channel).findOneOrFail({
        where: { code }, relations: ['defaultTaxZone', 'defaultShippingZone'],
    });
}

module.exports = { env, vendureConfig, makeCtx, channelByCode };
