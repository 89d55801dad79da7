// @hyperframes/engine (a dev dependency, for the compatibility tests) pulls in puppeteer, whose
// install step would download Chrome; the tests never start a browser.
module.exports = { skipDownload: true };
