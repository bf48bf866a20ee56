import { expect } from 'chai';
import { MatrixError, RegistrationError, AppserviceRequestError } from '../lib/errors.ts';

describe('errors', () => {
  it('RegistrationError names file, field and reason', () => {
    const err = new RegistrationError('registrations/irc.yaml', 'namespaces.users[1].regex', 'unterminated group');
    expect(err.message).to.equal('registrations/irc.yaml: namespaces.users[1].regex: unterminated group');
    expect(err.code).to.equal('ERR_REGISTRATION');
    expect(err.name).to.equal('RegistrationError');
  });

  it('MatrixError renders as Matrix JSON with extra fields', () => {
    const err = new MatrixError(502, 'M_BAD_STATUS', 'The appservice answered 500', { status: 500 });
    expect(err.toJSON()).to.deep.equal({ status: 500, errcode: 'M_BAD_STATUS', error: 'The appservice answered 500' });
    expect(err.expose).to.equal(true);
  });

  it('AppserviceRequestError chains its cause', () => {
    const cause = new Error('ECONNREFUSED');
    const err = new AppserviceRequestError('irc', 'connection', 'connection refused', { cause });
    expect(err.cause).to.equal(cause);
    expect(err.kind).to.equal('connection');
  });
});
