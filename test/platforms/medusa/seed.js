// test/platforms/medusa/seed.js — seeds a small Medusa 2.x shop through Medusa's own module
// services (run by medusa.sh as `medusa exec`, as the schema owner, after `medusa db:migrate`):
// a region, a sales channel, a product with two variants, admin users ada (with her emailpass
// identity) and wes, customers Veronica and John (with accounts and emailpass identities),
// a guest (has_account = false), addresses, a cart of each with line items, an order of
// Veronica's with a fulfillment and a refunded payment, and an order of the guest's.  Writes
// the ids it made as JSON to $MEDUSA_IDS.
'use strict';
Object.defineProperty(exports, '__esModule', { value: true });
const fs = require('node:fs');
const { Modules, ContainerRegistrationKeys } = require('@medusajs/framework/utils');

async function seed({ container }) {
    const out = process.env.MEDUSA_IDS;
    if (!out) throw new Error('MEDUSA_IDS is not set');
    const region = container.resolve(Modules.REGION);
    const salesChannel = container.resolve(Modules.SALES_CHANNEL);
    const product = container.resolve(Modules.PRODUCT);
    const customer = container.resolve(Modules.CUSTOMER);
    const cart = container.resolve(Modules.CART);
    const order = container.resolve(Modules.ORDER);
    const user = container.resolve(Modules.USER);
    const auth = container.resolve(Modules.AUTH);

    const [europe] = await region.createRegions([{ name: 'Europe', currency_code: 'eur', countries: ['gb', 'de'] }]);
    const [web] = await salesChannel.createSalesChannels([{ name: 'Web shop' }]);
    // the product through Medusa's own workflow: variants with prices (pricing module, linked),
    // in the sales channel (link), inventory not managed — what the cart workflows need
    const { createProductsWorkflow, createShippingProfilesWorkflow } = require('@medusajs/core-flows');
    const { result: [profile] } = await createShippingProfilesWorkflow(container).run({
        input: { data: [{ name: 'Default', type: 'default' }] } });
    const { result: [mug] } = await createProductsWorkflow(container).run({ input: { products: [{
        title: 'Mug', handle: 'mug', status: 'published', shipping_profile_id: profile.id,
        options: [{ title: 'Colour', values: ['Red', 'Blue'] }],
        variants: [
            { title: 'Red mug', sku: 'MUG-RED', options: { Colour: 'Red' }, manage_inventory: false,
              prices: [{ amount: 1000, currency_code: 'eur' }] },
            { title: 'Blue mug', sku: 'MUG-BLUE', options: { Colour: 'Blue' }, manage_inventory: false,
              prices: [{ amount: 1200, currency_code: 'eur' }] },
        ],
        sales_channels: [{ id: web.id }],
    }] } });
    const [red, blue] = ['MUG-RED', 'MUG-BLUE'].map(sku => mug.variants.find(v => v.sku === sku));

    // an admin: a user, and the emailpass identity Medusa's auth module logs it in with
    // (wes: a user whose metadata gives him the role "warehouse", which the recipe does not
    // let log in as customers; ada has no such key: role "admin")
    const [ada, wes] = await user.createUsers([
        { email: 'ada@shop.test', first_name: 'Ada', last_name: 'Support' },
        { email: 'wes@shop.test', first_name: 'Wes', last_name: 'Warehouse', metadata: { loginas_role: 'warehouse' } },
    ]);
    await auth.createAuthIdentities([{
        provider_identities: [{ provider: 'emailpass', entity_id: 'ada@shop.test', provider_metadata: { password: 'not-a-real-hash' } }],
        app_metadata: { user_id: ada.id },
    }]);

    const [veronica, john, guest] = await customer.createCustomers([
        { email: 'veronica@example.com', first_name: 'Veronica', last_name: 'Costello', has_account: true },
        { email: 'john@example.com', first_name: 'John', last_name: 'Smith', has_account: true },
        { email: 'guest@example.com', first_name: 'Gus', last_name: 'Guest', has_account: false },
    ]);
    for (const c of [veronica, john]) {
        await auth.createAuthIdentities([{
            provider_identities: [{ provider: 'emailpass', entity_id: c.email, provider_metadata: { password: 'not-a-real-hash' } }],
            app_metadata: { customer_id: c.id },
        }]);
    }
    const address = name => ({ first_name: name, last_name: 'Test', address_1: '1 High Street', city: 'London',
        postal_code: 'N1 1AA', country_code: 'gb' });
    const [veronicaAddress, johnAddress] = await customer.createCustomerAddresses([
        { customer_id: veronica.id, ...address('Veronica'), is_default_shipping: true },
        { customer_id: john.id, ...address('John'), is_default_shipping: true },
    ]);

    const item = (variant, quantity) => ({
        title: variant.title, quantity, unit_price: 1000, variant_id: variant.id, product_id: mug.id,
        product_title: mug.title, variant_sku: variant.sku,
    });
    const mkCart = (c, items) => cart.createCarts({
        currency_code: 'eur', region_id: europe.id, sales_channel_id: web.id, customer_id: c.id, email: c.email,
        shipping_address: address(c.first_name), billing_address: address(c.first_name), items,
    });
    const veronicaCart = await mkCart(veronica, [item(red, 1)]);
    const johnCart = await mkCart(john, [item(red, 3), item(blue, 2)]);
    const guestCart = await mkCart(guest, [item(blue, 1)]);
    const lines = async c => (await cart.listLineItems({ cart_id: c.id })).map(l => l.id);

    const [veronicaOrder, guestOrder] = await order.createOrders([{
        currency_code: 'eur', region_id: europe.id, sales_channel_id: web.id, customer_id: veronica.id,
        email: veronica.email, shipping_address: address('Veronica'), billing_address: address('Veronica'),
        items: [item(red, 2)],
    }, {
        currency_code: 'eur', region_id: europe.id, sales_channel_id: web.id, customer_id: guest.id,
        email: guest.email, shipping_address: address('Gus'), items: [item(blue, 1)],
    }]);

    // a fulfillment of Veronica's order (a shipment) and a refund of its payment (a credit
    // memo), linked to the order as Medusa's workflows link them (link tables order_fulfillment
    // and order_payment_collection)
    const link = container.resolve(ContainerRegistrationKeys.LINK);
    const fulfillment = container.resolve(Modules.FULFILLMENT);
    const payment = container.resolve(Modules.PAYMENT);
    const shipment = await fulfillment.createFulfillment({
        location_id: 'sloc_seed', provider_id: 'manual_manual', delivery_address: address('Veronica'),
        items: [{ title: red.title, sku: red.sku, quantity: 2, barcode: '', line_item_id: null }], labels: [], order: {}, data: {} });
    await link.create({ [Modules.ORDER]: { order_id: veronicaOrder.id }, [Modules.FULFILLMENT]: { fulfillment_id: shipment.id } });
    const [collection] = await payment.createPaymentCollections([{ currency_code: 'eur', amount: 2000 }]);
    const paySession = await payment.createPaymentSession(collection.id, { provider_id: 'pp_system_default', currency_code: 'eur', amount: 2000, data: {} });
    const paid = await payment.authorizePaymentSession(paySession.id, {});
    await payment.capturePayment({ payment_id: paid.id, amount: 2000 });
    const { refunds: [refund] } = await payment.refundPayment({ payment_id: paid.id, amount: 500 });
    await link.create({ [Modules.ORDER]: { order_id: veronicaOrder.id }, [Modules.PAYMENT]: { payment_collection_id: collection.id } });

    const ids = {
        region: europe.id, salesChannel: web.id, product: mug.id, variants: { red: red.id, blue: blue.id },
        users: { ada: ada.id, wes: wes.id },
        customers: { veronica: veronica.id, john: john.id, guest: guest.id },
        addresses: { veronica: veronicaAddress.id, john: johnAddress.id },
        carts: { veronica: veronicaCart.id, john: johnCart.id, guest: guestCart.id },
        cartLines: { veronica: await lines(veronicaCart), john: await lines(johnCart) },
        orders: { veronica: veronicaOrder.id, guest: guestOrder.id },
        shipments: { veronica: shipment.id }, creditMemos: { veronica: refund.id },
    };
    fs.writeFileSync(out, JSON.stringify(ids, null, 2));
    console.log('SEEDED ' + JSON.stringify(ids));
}
exports.default = seed;
