// test/platforms/vendure/seed.js — creates Vendure's schema with Vendure's own bootstrap
// (synchronize: true, as the schema owner) and seeds a small shop through Vendure's own
// services: a zone, tax, two channels, roles, admins (one with two roles), products,
// a shipping and a payment method, customers (one in both channels), a guest, addresses
// and orders.  Writes the ids it made as JSON to the file named by its argument.
// With VENDURE_SYNC_ONLY=1 it only starts Vendure with synchronize: true and stops.
'use strict';
const fs = require('node:fs');
const core = require('@vendure/core');
const {
    bootstrap, CountryService, ZoneService, ChannelService, TaxCategoryService, TaxRateService,
    RoleService, AdministratorService, ProductService, ProductVariantService, ShippingMethodService,
    PaymentMethodService, CustomerService, OrderService, TransactionalConnection, Permission,
    LanguageCode, CurrencyCode, isGraphQlErrorResult,
} = core;
const { env, vendureConfig, makeCtx, channelByCode } = require('./common');

function must(result, what) {
    if (isGraphQlErrorResult(result)) throw new Error(`${what}: ${result.errorCode} ${result.message}`);
    return result;
}
const en = LanguageCode.en;

async function main() {
    const out = process.argv[2];
    const app = await bootstrap(vendureConfig({ username: env('VENDURE_OWNER'), synchronize: true }));
    if (process.env.VENDURE_SYNC_ONLY) {            // run.sh: what a restart with synchronize: true does
        await app.close();
        return;
    }
    const connection = app.get(TransactionalConnection);
    const tx = (ctx, work) => connection.withTransaction(ctx, work);   // as @Transaction() does
    try {
        const superadmin = await connection.rawConnection.query(
            `SELECT id FROM "user" WHERE identifier = 'superadmin'`);
        let ctx = await makeCtx(app, { apiType: 'admin', userId: superadmin[0].id });

        const country = await tx(ctx, c => app.get(CountryService).create(c, {
            code: 'GB', enabled: true, translations: [{ languageCode: en, name: 'United Kingdom' }] }));
        const zone = await tx(ctx, c => app.get(ZoneService).create(c, { name: 'Europe', memberIds: [country.id] }));
        const taxCategory = await tx(ctx, c => app.get(TaxCategoryService).create(c, { name: 'Standard', isDefault: true }));
        await tx(ctx, c => app.get(TaxRateService).create(c, {
            name: 'Standard GB', enabled: true, value: 20, categoryId: taxCategory.id, zoneId: zone.id }));
        const channels = app.get(ChannelService);
        const defaultChannel = await channels.getDefaultChannel();
        must(await tx(ctx, c => channels.update(c, {
            id: defaultChannel.id, defaultTaxZoneId: zone.id, defaultShippingZoneId: zone.id })), 'update default channel');
        const second = must(await tx(ctx, c => channels.create(c, {
            code: 'wholesale', token: 'wholesale-token', defaultLanguageCode: en, pricesIncludeTax: false,
            defaultCurrencyCode: CurrencyCode.GBP, defaultTaxZoneId: zone.id, defaultShippingZoneId: zone.id })),
            'create channel');

        // The superadmin's context again: its roles now reach the new channel too.
        ctx = await makeCtx(app, { apiType: 'admin', userId: superadmin[0].id, channel: await channelByCode(app, defaultChannel.code) });
        const roles = app.get(RoleService);
        const both = [defaultChannel.id, second.id];
        const support = await tx(ctx, c => roles.create(c, {
            code: 'customer-support', description: 'Customer support',
            permissions: [Permission.ReadCustomer, Permission.UpdateCustomer, Permission.ReadOrder], channelIds: both }));
        const sales = await tx(ctx, c => roles.create(c, {
            code: 'sales', description: 'Sales', permissions: [Permission.ReadOrder, Permission.UpdateOrder], channelIds: both }));
        const warehouse = await tx(ctx, c => roles.create(c, {
            code: 'warehouse', description: 'Warehouse', permissions: [Permission.ReadOrder], channelIds: both }));
        const admins = app.get(AdministratorService);
        const ada = await tx(ctx, c => admins.create(c, {
            emailAddress: 'ada@shop.test', firstName: 'Ada', lastName: 'Support', password: 'ada-secret',
            roleIds: [support.id, sales.id] }));                       // two roles: user_roles_role
        const wes = await tx(ctx, c => admins.create(c, {
            emailAddress: 'wes@shop.test', firstName: 'Wes', lastName: 'Warehouse', password: 'wes-secret',
            roleIds: [warehouse.id] }));

        // two products of one variant each (variants of one product need option groups)
        const variants = [];
        for (const [name, slug, sku, price] of [['Red mug', 'red-mug', 'MUG-RED', 1000], ['Blue mug', 'blue-mug', 'MUG-BLUE', 1200]]) {
            const product = await tx(ctx, c => app.get(ProductService).create(c, {
                translations: [{ languageCode: en, name, slug, description: name }] }));
            const [variant] = await tx(ctx, c => app.get(ProductVariantService).create(c, [
                { productId: product.id, sku, price, stockOnHand: 100, translations: [{ languageCode: en, name }] }]));
            variants.push(variant);
        }
        const shipping = await tx(ctx, c => app.get(ShippingMethodService).create(c, {
            code: 'standard', fulfillmentHandler: 'manual-fulfillment',
            checker: { code: 'default-shipping-eligibility-checker', arguments: [{ name: 'orderMinimum', value: '0' }] },
            calculator: { code: 'default-shipping-calculator', arguments: [
                { name: 'rate', value: '500' }, { name: 'includesTax', value: 'auto' }, { name: 'taxRate', value: '0' }] },
            translations: [{ languageCode: en, name: 'Standard', description: '' }] }));
        await tx(ctx, c => app.get(PaymentMethodService).create(c, {
            code: 'dummy', enabled: true,
            handler: { code: 'dummy-payment-handler', arguments: [{ name: 'automaticSettle', value: 'false' }] },
            translations: [{ languageCode: en, name: 'Dummy', description: '' }] }));

        const customers = app.get(CustomerService);
        const mkCustomer = (c, email, first, last) =>
            tx(c, cc => customers.create(cc, { emailAddress: email, firstName: first, lastName: last }, 'customer-secret'))
                .then(r => must(r, `create customer ${email}`));
        const veronica = await mkCustomer(ctx, 'veronica@example.com', 'Veronica', 'Costello');
        const john = await mkCustomer(ctx, 'john@example.com', 'John', 'Smith');
        const carol = await mkCustomer(ctx, 'carol@example.com', 'Carol', 'Both');
        // Carol in the second channel too: Vendure's create() brings an existing customer there
        const secondCtx = await makeCtx(app, { apiType: 'admin', userId: superadmin[0].id, channel: await channelByCode(app, 'wholesale') });
        await mkCustomer(secondCtx, 'carol@example.com', 'Carol', 'Both');
        // a guest: a customer without a user, as a guest checkout creates it
        const guest = must(await tx(ctx, c => customers.createOrUpdate(c, {
            emailAddress: 'guest@example.com', firstName: 'Gus', lastName: 'Guest' })), 'guest');

        const addr = (name) => ({ fullName: name, streetLine1: '1 High Street', city: 'London', postalCode: 'N1 1AA',
            countryCode: 'GB', defaultShippingAddress: true, defaultBillingAddress: true });
        const veronicaAddress = await tx(ctx, c => customers.createAddress(c, veronica.id, addr('Veronica Costello')));
        const johnAddress = await tx(ctx, c => customers.createAddress(c, john.id, addr('John Smith')));

        // orders as the storefront makes them: the customer's own context (shop API)
        const orders = app.get(OrderService);
        async function orderFor(customer, lines) {
            const shopCtx = await makeCtx(app, { apiType: 'shop', userId: customer.user.id });
            return tx(shopCtx, async c => {
                let order = await orders.create(c, customer.user.id);
                for (const [variant, qty] of lines) order = must(await orders.addItemToOrder(c, order.id, variant.id, qty), 'addItemToOrder');
                must(await orders.setShippingAddress(c, order.id, addr(`${customer.firstName} ${customer.lastName}`)), 'setShippingAddress');
                must(await orders.setShippingMethod(c, order.id, [shipping.id]), 'setShippingMethod');
                return orders.findOne(c, order.id);
            });
        }
        const veronicaOrder = await orderFor(veronica, [[variants[0], 1]]);
        const johnOrder = await orderFor(john, [[variants[0], 3], [variants[1], 2]]);
        const guestOrder = await tx(ctx, async c => {
            const sc = await makeCtx(app, { apiType: 'shop' });
            let o = await orders.create(sc);
            o = must(await orders.addItemToOrder(sc, o.id, variants[0].id, 1), 'guest addItem');
            await orders.addCustomerToOrder(sc, o.id, guest);
            return o;
        });

        const ids = {
            channels: { default: defaultChannel.id, second: second.id },
            roles: { support: support.code, sales: sales.code, warehouse: warehouse.code },
            admins: { ada: ada.id, wes: wes.id },
            customers: { veronica: veronica.id, john: john.id, carol: carol.id, guest: guest.id },
            users: { veronica: veronica.user.id, john: john.user.id, carol: carol.user.id },
            addresses: { veronica: veronicaAddress.id, john: johnAddress.id },
            orders: { veronica: veronicaOrder.id, john: johnOrder.id, guest: guestOrder.id },
            orderLines: {
                veronica: veronicaOrder.lines.map(l => l.id),
                john: johnOrder.lines.map(l => l.id),
            },
            variants: variants.map(v => v.id),
            shippingMethod: shipping.id,
        };
        fs.writeFileSync(out, JSON.stringify(ids, null, 2));
        console.log(JSON.stringify(ids));
    } finally {
        await app.close();
    }
}

main().then(() => process.exit(0), err => { console.error('seed failed:', err); process.exit(1); });
