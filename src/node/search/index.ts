// simdnn/search in Node: the portable search (src/search) with worker threads
// as the default executor, and the Node data loader of a search (the digits, an IDX
// directory or a CSV table).
import { hyperparameterSearch as search, type Executor, type SearchOptions, type SearchResult } from '../../search/search.js';
import { localExecutor } from './local.js';

export * from '../../search/index.js';
export { localExecutor, type LocalExecutorOptions } from './local.js';
export { loadSearchData, BOOK_SEARCH_DATA } from './data.js';

/** SearchOptions with the executor optional (default: worker threads); `workers` and `executor` together are a TypeError. */
export interface NodeSearchOptions extends Omit<SearchOptions, 'executor'> {
  /** Where trials run. Default: localExecutor({ workers }) (closed when the search ends). */
  executor?: Executor;
  /** Worker threads of the default executor. Default: one per core. */
  workers?: number;
}

/**
 * hyperparameterSearch (see the portable one) with trials on worker threads by
 * default: `workers` of them, one trial each at a time.
 */
export async function hyperparameterSearch(options: NodeSearchOptions): Promise<SearchResult> {
  const { executor, workers, ...rest } = options;
  if (executor && workers !== undefined) throw new TypeError('hyperparameterSearch: give workers or an executor, not both');
  const own = executor ? null : localExecutor({ workers });
  try {
    return await search({ ...rest, executor: executor ?? own! });
  } finally {
    await own?.close();
  }
}
