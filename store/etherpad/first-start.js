// The first start of an Etherpad instance: its table in PostgreSQL, made by
// the database layer Etherpad uses (ueberdb2), so that a database that
// cannot be reached fails the install rather than the first visit. Safe to
// run twice: the table is made only if it is missing.
"use strict";
const util = require("util");
const ueberdb = require("ueberdb2");

(async () => {
    const db = new ueberdb.Database("postgres", {
        host: process.env.DB_HOST,
        port: process.env.DB_PORT,
        database: process.env.DB_DB,
        user: process.env.DB_USER,
        password: process.env.DB_PASSWORD,
    }, {}, { error: console.error });
    await db.init();
    await util.promisify(db.close.bind(db))();
    console.log(`Etherpad ready; its admin is '${process.env.ADMIN_USER}'`);
})().catch((err) => {
    console.error(`cannot prepare Etherpad's database: ${err.message || err}`);
    process.exit(1);
});
