/**
 * KMS error responses. Codes, HTTP statuses and messages follow the KMS API reference
 * ("public error codes" table and the per-action error tables of DescribeKey, Decrypt,
 * GenerateDataKey, DisableKey): the unmodified @alicloud/kms20160120 client turns the body
 * into an error with `code = <Code> + 'Error'` and `data = <the body>`, so callers read
 * `err.data.Code`.
 */
export class KmsServiceError extends Error {
  override readonly name = 'KmsServiceError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const KmsErrors = {
  keyNotFound: () => new KmsServiceError(404, 'Forbidden.KeyNotFound', 'The specified Key is not found.'),
  aliasNotFound: () => new KmsServiceError(404, 'Forbidden.AliasNotFound', 'The specified Alias is not found.'),
  disabled: () => new KmsServiceError(409, 'Rejected.Disabled', 'The request was rejected because the key state is Disabled.'),
  pendingDeletion: () =>
    new KmsServiceError(409, 'Rejected.PendingDeletion', 'The request was rejected because the key state is PendingDeletion.'),
  pendingImport: () =>
    new KmsServiceError(409, 'Rejected.PendingImport', 'The request was rejected because the key state is PendingImport.'),
  missingParameter: (name: string) => new KmsServiceError(400, 'MissingParameter', `The parameter "${name}" is needed but not provided.`),
  invalidParameter: (name: string, why?: string) =>
    new KmsServiceError(400, 'InvalidParameter', `The specified parameter "${name}" is not valid.${why ? ' ' + why : ''}`),
  aliasExists: () => new KmsServiceError(400, 'AliasAlreadyExists', 'AliasName Already Exists.'),
  unsupportedAlias: () => new KmsServiceError(400, 'Unsupported.Alias', 'Alias is not valid for this api.'),
  unsupportedOperation: (why: string) => new KmsServiceError(400, 'UnsupportedOperation', `This action is not supported. ${why}`),
};
