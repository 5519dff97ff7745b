export * from "./framed-port.js";
export * from "./messages.js";
