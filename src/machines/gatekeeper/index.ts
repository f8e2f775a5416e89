// The gatekeeper's pure decisions: who is admitted to a secured run's bus, and as what.
export { admit, type Admission, type JoinRefusal, type JoinRequest, type JoinRole, parseAllowList, readJoinRequest, type Registry } from "./admit.js";
export { type Member, type RegisteredNeuron, registryChanges, type RegistryChanges, registryOfMetagraph, revokedMembers } from "./metagraph.js";
