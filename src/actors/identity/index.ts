// The identity shell: hotkeys, session keys, certificates and the CryptoSuite that checks them.
export { certifySessionKey } from "./certificate.js";
export { fixedRng, InvalidHotkey, isHotkeyAddress, loadHotkey, type Hotkey, type Rng } from "./hotkey.js";
export { cryptoReady, nodeCrypto } from "./node-crypto.js";
export { sessionKey } from "./session.js";
