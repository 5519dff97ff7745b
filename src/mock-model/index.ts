// The mock model server's public surface.
export {
  startMockModelServer,
  type MockFault,
  type MockModelServer,
  type MockModelServerOptions,
  type RecordedRequest,
} from "./server.js";
export { SLOW_MARKER, UNAUTHORIZED_MARKER, UNKNOWN_MODEL } from "./replies.js";
