/**
 * What `/ready` checks: each part the service needs answers. A store writer whose writes have failed for half a minute
 * without a success is not ready either: accepted readings are not becoming queryable.
 */
export function createReadiness(deps: {
  telemetry: { ping: () => Promise<unknown> };
  state: { ping: () => Promise<unknown> };
  broker: () => boolean;
  writerFailingSince: () => number | null;
  clock: () => number;
}) {
  const answers = (p: () => Promise<unknown>) =>
    p().then(
      () => true,
      () => false,
    );
  return async (): Promise<Record<string, boolean>> => ({
    telemetryStore: await answers(deps.telemetry.ping),
    stateStore: await answers(deps.state.ping),
    broker: deps.broker(),
    storeWriter: (deps.writerFailingSince() ?? deps.clock()) > deps.clock() - 30_000,
  });
}
