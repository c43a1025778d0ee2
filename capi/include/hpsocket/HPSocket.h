/*
 * shardnet's HP-Socket C++ API: HP-Socket's interfaces, listener base classes and smart
 * pointers (SocketInterface.h, HPSocket.h of HP-Socket 5.8) for the TCP, UDP and HTTP components, as a
 * header-only layer over shardnet's C API (HPSocket4C.h, libhpsocket4c). Programs written for
 * HP-Socket's C++ classes compile against this header unchanged and link libhpsocket4c:
 *
 *   class CListenerImpl : public CTcpPullServerListener { ... OnReceive(pSender, id, len) {
 *       ITcpPullServer::FromS(pSender)->Fetch(id, buf, len); ... } };
 *   CListenerImpl listener;
 *   CTcpPullServerPtr server(&listener);
 *   server->Start("0.0.0.0", 5555);
 *
 * Written for shardnet; the names are HP-Socket's. Callbacks run on shard threads, as HP's on
 * its workers; Stop inside a callback returns without waiting (HP deadlocks there).
 * HTTP: CHttpServerPtr, CHttpAgentPtr, CHttpClientPtr, CHttpSyncClientPtr with their listener
 * bases (CHttpServerListener, ..., CHttpSyncClientListener) and IHttpServer::FromS(pSender).
 * SSL: the SSL methods of ITcpServer / ITcpAgent / ITcpClient (SetupSSLContext, SNI, ...; FALSE
 * on a component that is not an SSL one, as HP's) and CSSL*Ptr, CHttps*Ptr (HPSocket-SSL.h
 * includes this header, for programs that include that one).
 */
#ifndef SHARDNET_HPSOCKET_H
#define SHARDNET_HPSOCKET_H

#include "HPSocket4C-SSL.h"

#ifdef __cplusplus

#include <atomic>
#include <cstddef>


/* ---------------------------------------------------------------- interfaces -------------- */

class IComplexSocket
{
public:
    virtual BOOL Stop() = 0;
    virtual BOOL Send(CONNID dwConnID, const BYTE* pBuffer, int iLength, int iOffset = 0) = 0;
    virtual BOOL SendPackets(CONNID dwConnID, const WSABUF pBuffers[], int iCount) = 0;
    virtual BOOL PauseReceive(CONNID dwConnID, BOOL bPause = TRUE) = 0;
    virtual BOOL Disconnect(CONNID dwConnID, BOOL bForce = TRUE) = 0;
    virtual BOOL DisconnectLongConnections(DWORD dwPeriod, BOOL bForce = TRUE) = 0;
    virtual BOOL DisconnectSilenceConnections(DWORD dwPeriod, BOOL bForce = TRUE) = 0;
    virtual BOOL Wait(DWORD dwMilliseconds = INFINITE) = 0;

    virtual BOOL SetConnectionExtra(CONNID dwConnID, PVOID pExtra) = 0;
    virtual BOOL GetConnectionExtra(CONNID dwConnID, PVOID* ppExtra) = 0;
    virtual BOOL IsSecure() = 0;
    virtual BOOL HasStarted() = 0;
    virtual EnServiceState GetState() = 0;
    virtual DWORD GetConnectionCount() = 0;
    virtual BOOL GetAllConnectionIDs(CONNID pIDs[], DWORD& dwCount) = 0;
    virtual BOOL GetConnectPeriod(CONNID dwConnID, DWORD& dwPeriod) = 0;
    virtual BOOL GetSilencePeriod(CONNID dwConnID, DWORD& dwPeriod) = 0;
    virtual BOOL GetLocalAddress(CONNID dwConnID, TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
    virtual BOOL GetRemoteAddress(CONNID dwConnID, TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
    virtual EnSocketError GetLastError() = 0;
    virtual LPCTSTR GetLastErrorDesc() = 0;
    virtual BOOL GetPendingDataLength(CONNID dwConnID, int& iPending) = 0;
    virtual BOOL IsPauseReceive(CONNID dwConnID, BOOL& bPaused) = 0;
    virtual BOOL IsConnected(CONNID dwConnID) = 0;

    virtual void SetReuseAddressPolicy(EnReuseAddressPolicy enReusePolicy) = 0;
    virtual void SetSendPolicy(EnSendPolicy enSendPolicy) = 0;
    virtual void SetOnSendSyncPolicy(EnOnSendSyncPolicy enSyncPolicy) = 0;
    virtual void SetMaxConnectionCount(DWORD dwMaxConnectionCount) = 0;
    virtual void SetFreeSocketObjLockTime(DWORD dwFreeSocketObjLockTime) = 0;
    virtual void SetFreeSocketObjPool(DWORD dwFreeSocketObjPool) = 0;
    virtual void SetFreeBufferObjPool(DWORD dwFreeBufferObjPool) = 0;
    virtual void SetFreeSocketObjHold(DWORD dwFreeSocketObjHold) = 0;
    virtual void SetFreeBufferObjHold(DWORD dwFreeBufferObjHold) = 0;
    virtual void SetWorkerThreadCount(DWORD dwWorkerThreadCount) = 0;
    virtual void SetMarkSilence(BOOL bMarkSilence) = 0;

    virtual EnReuseAddressPolicy GetReuseAddressPolicy() = 0;
    virtual EnSendPolicy GetSendPolicy() = 0;
    virtual EnOnSendSyncPolicy GetOnSendSyncPolicy() = 0;
    virtual DWORD GetMaxConnectionCount() = 0;
    virtual DWORD GetFreeSocketObjLockTime() = 0;
    virtual DWORD GetFreeSocketObjPool() = 0;
    virtual DWORD GetFreeBufferObjPool() = 0;
    virtual DWORD GetFreeSocketObjHold() = 0;
    virtual DWORD GetFreeBufferObjHold() = 0;
    virtual DWORD GetWorkerThreadCount() = 0;
    virtual BOOL IsMarkSilence() = 0;

public:
    virtual ~IComplexSocket() = default;
};

class IServer : public IComplexSocket
{
public:
    virtual BOOL Start(LPCTSTR lpszBindAddress, USHORT usPort) = 0;
    virtual BOOL GetListenAddress(TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
};

class ITcpServer : public IServer
{
public:
    virtual BOOL SendSmallFile(CONNID dwConnID, LPCTSTR lpszFileName, const LPWSABUF pHead = nullptr, const LPWSABUF pTail = nullptr) = 0;
    virtual void SetAcceptSocketCount(DWORD dwAcceptSocketCount) = 0;
    virtual void SetSocketBufferSize(DWORD dwSocketBufferSize) = 0;
    virtual void SetSocketListenQueue(DWORD dwSocketListenQueue) = 0;
    virtual void SetKeepAliveTime(DWORD dwKeepAliveTime) = 0;
    virtual void SetKeepAliveInterval(DWORD dwKeepAliveInterval) = 0;
    virtual DWORD GetAcceptSocketCount() = 0;
    virtual DWORD GetSocketBufferSize() = 0;
    virtual DWORD GetSocketListenQueue() = 0;
    virtual DWORD GetKeepAliveTime() = 0;
    virtual DWORD GetKeepAliveInterval() = 0;
    /* SSL (HP's _SSL_SUPPORT): FALSE / nothing on a component that is not an SSL one. */
    virtual BOOL SetupSSLContext(int iVerifyMode = SSL_VM_NONE, LPCTSTR lpszPemCertFile = nullptr, LPCTSTR lpszPemKeyFile = nullptr, LPCTSTR lpszKeyPassword = nullptr, LPCTSTR lpszCAPemCertFileOrPath = nullptr, Fn_SNI_ServerNameCallback fnServerNameCallback = nullptr) = 0;
    virtual BOOL SetupSSLContextByMemory(int iVerifyMode = SSL_VM_NONE, LPCSTR lpszPemCert = nullptr, LPCSTR lpszPemKey = nullptr, LPCSTR lpszKeyPassword = nullptr, LPCSTR lpszCAPemCert = nullptr, Fn_SNI_ServerNameCallback fnServerNameCallback = nullptr) = 0;
    virtual int AddSSLContext(int iVerifyMode = SSL_VM_NONE, LPCTSTR lpszPemCertFile = nullptr, LPCTSTR lpszPemKeyFile = nullptr, LPCTSTR lpszKeyPassword = nullptr, LPCTSTR lpszCAPemCertFileOrPath = nullptr) = 0;
    virtual int AddSSLContextByMemory(int iVerifyMode = SSL_VM_NONE, LPCSTR lpszPemCert = nullptr, LPCSTR lpszPemKey = nullptr, LPCSTR lpszKeyPassword = nullptr, LPCSTR lpszCAPemCert = nullptr) = 0;
    virtual BOOL BindSSLServerName(LPCTSTR lpszServerName, int iContextIndex) = 0;
    virtual void CleanupSSLContext() = 0;
    virtual BOOL StartSSLHandShake(CONNID dwConnID) = 0;
    virtual void SetSSLAutoHandShake(BOOL bAutoHandShake) = 0;
    virtual BOOL IsSSLAutoHandShake() = 0;
    virtual void SetSSLCipherList(LPCTSTR lpszCipherList) = 0;
    virtual LPCTSTR GetSSLCipherList() = 0;
    virtual BOOL GetSSLSessionInfo(CONNID dwConnID, EnSSLSessionInfo enInfo, LPVOID* lppInfo) = 0;
};

class IAgent : public IComplexSocket
{
public:
    virtual BOOL Start(LPCTSTR lpszBindAddress = nullptr, BOOL bAsyncConnect = TRUE) = 0;
    virtual BOOL Connect(LPCTSTR lpszRemoteAddress, USHORT usPort, CONNID* pdwConnID = nullptr, PVOID pExtra = nullptr, USHORT usLocalPort = 0, LPCTSTR lpszLocalAddress = nullptr) = 0;
    virtual BOOL GetRemoteHost(CONNID dwConnID, TCHAR lpszHost[], int& iHostLen, USHORT& usPort) = 0;
};

class ITcpAgent : public IAgent
{
public:
    virtual BOOL SendSmallFile(CONNID dwConnID, LPCTSTR lpszFileName, const LPWSABUF pHead = nullptr, const LPWSABUF pTail = nullptr) = 0;
    virtual void SetSocketBufferSize(DWORD dwSocketBufferSize) = 0;
    virtual void SetKeepAliveTime(DWORD dwKeepAliveTime) = 0;
    virtual void SetKeepAliveInterval(DWORD dwKeepAliveInterval) = 0;
    virtual DWORD GetSocketBufferSize() = 0;
    virtual DWORD GetKeepAliveTime() = 0;
    virtual DWORD GetKeepAliveInterval() = 0;
    /* SSL (HP's _SSL_SUPPORT): FALSE / nothing on a component that is not an SSL one. */
    virtual BOOL SetupSSLContext(int iVerifyMode = SSL_VM_NONE, LPCTSTR lpszPemCertFile = nullptr, LPCTSTR lpszPemKeyFile = nullptr, LPCTSTR lpszKeyPassword = nullptr, LPCTSTR lpszCAPemCertFileOrPath = nullptr) = 0;
    virtual BOOL SetupSSLContextByMemory(int iVerifyMode = SSL_VM_NONE, LPCSTR lpszPemCert = nullptr, LPCSTR lpszPemKey = nullptr, LPCSTR lpszKeyPassword = nullptr, LPCSTR lpszCAPemCert = nullptr) = 0;
    virtual void CleanupSSLContext() = 0;
    virtual BOOL StartSSLHandShake(CONNID dwConnID) = 0;
    virtual void SetSSLAutoHandShake(BOOL bAutoHandShake) = 0;
    virtual BOOL IsSSLAutoHandShake() = 0;
    virtual void SetSSLCipherList(LPCTSTR lpszCipherList) = 0;
    virtual LPCTSTR GetSSLCipherList() = 0;
    virtual BOOL GetSSLSessionInfo(CONNID dwConnID, EnSSLSessionInfo enInfo, LPVOID* lppInfo) = 0;
};

class IClient
{
public:
    virtual BOOL Start(LPCTSTR lpszRemoteAddress, USHORT usPort, BOOL bAsyncConnect = TRUE, LPCTSTR lpszBindAddress = nullptr, USHORT usLocalPort = 0) = 0;
    virtual BOOL Stop() = 0;
    virtual BOOL Send(const BYTE* pBuffer, int iLength, int iOffset = 0) = 0;
    virtual BOOL SendPackets(const WSABUF pBuffers[], int iCount) = 0;
    virtual BOOL PauseReceive(BOOL bPause = TRUE) = 0;
    virtual BOOL Wait(DWORD dwMilliseconds = INFINITE) = 0;
    virtual void SetExtra(PVOID pExtra) = 0;
    virtual PVOID GetExtra() = 0;
    virtual BOOL IsSecure() = 0;
    virtual BOOL HasStarted() = 0;
    virtual EnServiceState GetState() = 0;
    virtual EnSocketError GetLastError() = 0;
    virtual LPCTSTR GetLastErrorDesc() = 0;
    virtual CONNID GetConnectionID() = 0;
    virtual BOOL GetLocalAddress(TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
    virtual BOOL GetRemoteHost(TCHAR lpszHost[], int& iHostLen, USHORT& usPort) = 0;
    virtual BOOL GetPendingDataLength(int& iPending) = 0;
    virtual BOOL IsPauseReceive(BOOL& bPaused) = 0;
    virtual BOOL IsConnected() = 0;
    virtual void SetReuseAddressPolicy(EnReuseAddressPolicy enReusePolicy) = 0;
    virtual void SetFreeBufferPoolSize(DWORD dwFreeBufferPoolSize) = 0;
    virtual void SetFreeBufferPoolHold(DWORD dwFreeBufferPoolHold) = 0;
    virtual EnReuseAddressPolicy GetReuseAddressPolicy() = 0;
    virtual DWORD GetFreeBufferPoolSize() = 0;
    virtual DWORD GetFreeBufferPoolHold() = 0;
    virtual ~IClient() = default;
};

class ITcpClient : public IClient
{
public:
    virtual BOOL SendSmallFile(LPCTSTR lpszFileName, const LPWSABUF pHead = nullptr, const LPWSABUF pTail = nullptr) = 0;
    virtual void SetSocketBufferSize(DWORD dwSocketBufferSize) = 0;
    virtual void SetKeepAliveTime(DWORD dwKeepAliveTime) = 0;
    virtual void SetKeepAliveInterval(DWORD dwKeepAliveInterval) = 0;
    virtual DWORD GetSocketBufferSize() = 0;
    virtual DWORD GetKeepAliveTime() = 0;
    virtual DWORD GetKeepAliveInterval() = 0;
    /* SSL (HP's _SSL_SUPPORT): FALSE / nothing on a component that is not an SSL one. */
    virtual BOOL SetupSSLContext(int iVerifyMode = SSL_VM_NONE, LPCTSTR lpszPemCertFile = nullptr, LPCTSTR lpszPemKeyFile = nullptr, LPCTSTR lpszKeyPassword = nullptr, LPCTSTR lpszCAPemCertFileOrPath = nullptr) = 0;
    virtual BOOL SetupSSLContextByMemory(int iVerifyMode = SSL_VM_NONE, LPCSTR lpszPemCert = nullptr, LPCSTR lpszPemKey = nullptr, LPCSTR lpszKeyPassword = nullptr, LPCSTR lpszCAPemCert = nullptr) = 0;
    virtual void CleanupSSLContext() = 0;
    virtual BOOL StartSSLHandShake() = 0;
    virtual void SetSSLAutoHandShake(BOOL bAutoHandShake) = 0;
    virtual BOOL IsSSLAutoHandShake() = 0;
    virtual void SetSSLCipherList(LPCTSTR lpszCipherList) = 0;
    virtual LPCTSTR GetSSLCipherList() = 0;
    virtual BOOL GetSSLSessionInfo(EnSSLSessionInfo enInfo, LPVOID* lppInfo) = 0;
};

class IPullClient
{
public:
    virtual EnFetchResult Fetch(BYTE* pData, int iLength) = 0;
    virtual EnFetchResult Peek(BYTE* pData, int iLength) = 0;
    virtual ~IPullClient() = default;
};

class IPackClient
{
public:
    virtual void SetMaxPackSize(DWORD dwMaxPackSize) = 0;
    virtual void SetPackHeaderFlag(USHORT usPackHeaderFlag) = 0;
    virtual DWORD GetMaxPackSize() = 0;
    virtual USHORT GetPackHeaderFlag() = 0;
    virtual ~IPackClient() = default;
};

class IPullSocket
{
public:
    virtual EnFetchResult Fetch(CONNID dwConnID, BYTE* pData, int iLength) = 0;
    virtual EnFetchResult Peek(CONNID dwConnID, BYTE* pData, int iLength) = 0;
    virtual ~IPullSocket() = default;
};

class IPackSocket
{
public:
    virtual void SetMaxPackSize(DWORD dwMaxPackSize) = 0;
    virtual void SetPackHeaderFlag(USHORT usPackHeaderFlag) = 0;
    virtual DWORD GetMaxPackSize() = 0;
    virtual USHORT GetPackHeaderFlag() = 0;
    virtual ~IPackSocket() = default;
};

/* A component with two faces (Pull or Pack beside the socket interface), and HP's casts
 * between them: `ITcpPullServer::FromS(pSender)` turns the `ITcpServer*` a callback gets into
 * the pull server. */
template <class F, class S>
class DualInterface : public F, public S
{
public:
    inline static F* ToF(DualInterface* pThis) { return static_cast<F*>(pThis); }
    inline static DualInterface* FromF(F* pF) { return static_cast<DualInterface*>(pF); }
    inline static S* ToS(DualInterface* pThis) { return static_cast<S*>(pThis); }
    inline static DualInterface* FromS(S* pS) { return static_cast<DualInterface*>(pS); }
    inline static S* F2S(F* pF) { return ToS(FromF(pF)); }
    inline static F* S2F(S* pS) { return ToF(FromS(pS)); }
    virtual ~DualInterface() = default;
};

typedef DualInterface<IPullSocket, ITcpServer> ITcpPullServer;
typedef DualInterface<IPullSocket, ITcpAgent> ITcpPullAgent;
typedef DualInterface<IPackSocket, ITcpServer> ITcpPackServer;
typedef DualInterface<IPackSocket, ITcpAgent> ITcpPackAgent;
typedef DualInterface<IPullClient, ITcpClient> ITcpPullClient;
typedef DualInterface<IPackClient, ITcpClient> ITcpPackClient;

/* UDP (HP's _UDP_SUPPORT interfaces): the servers share IServer, the clients IClient. */
class IUdpServer : public IServer
{
public:
    virtual void SetMaxDatagramSize(DWORD dwMaxDatagramSize) = 0;
    virtual DWORD GetMaxDatagramSize() = 0;
    virtual void SetPostReceiveCount(DWORD dwPostReceiveCount) = 0;
    virtual DWORD GetPostReceiveCount() = 0;
    virtual void SetDetectAttempts(DWORD dwDetectAttempts) = 0;
    virtual void SetDetectInterval(DWORD dwDetectInterval) = 0;
    virtual DWORD GetDetectAttempts() = 0;
    virtual DWORD GetDetectInterval() = 0;
};

class IUdpClient : public IClient
{
public:
    virtual void SetMaxDatagramSize(DWORD dwMaxDatagramSize) = 0;
    virtual DWORD GetMaxDatagramSize() = 0;
    virtual void SetDetectAttempts(DWORD dwDetectAttempts) = 0;
    virtual void SetDetectInterval(DWORD dwDetectInterval) = 0;
    virtual DWORD GetDetectAttempts() = 0;
    virtual DWORD GetDetectInterval() = 0;
};

/* A multicast / broadcast group member, shaped as a client (HP's IUdpCast). */
class IUdpCast : public IClient
{
public:
    virtual void SetMaxDatagramSize(DWORD dwMaxDatagramSize) = 0;
    virtual DWORD GetMaxDatagramSize() = 0;
    virtual void SetCastMode(EnCastMode enCastMode) = 0;
    virtual EnCastMode GetCastMode() = 0;
    virtual void SetMultiCastTtl(int iMCTtl) = 0;
    virtual int GetMultiCastTtl() = 0;
    virtual void SetMultiCastLoop(BOOL bMCLoop) = 0;
    virtual BOOL IsMultiCastLoop() = 0;
    virtual BOOL GetRemoteAddress(TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
};

/* A UDP endpoint that sends to and receives from any address (HP's IUdpNode). */
class IUdpNode
{
public:
    virtual BOOL Start(LPCTSTR lpszBindAddress = nullptr, USHORT usPort = 0, EnCastMode enCastMode = CM_UNICAST, LPCTSTR lpszCastAddress = nullptr) = 0;
    virtual BOOL Stop() = 0;
    virtual BOOL Send(LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const BYTE* pBuffer, int iLength, int iOffset = 0) = 0;
    virtual BOOL SendPackets(LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const WSABUF pBuffers[], int iCount) = 0;
    virtual BOOL SendCast(const BYTE* pBuffer, int iLength, int iOffset = 0) = 0;
    virtual BOOL SendCastPackets(const WSABUF pBuffers[], int iCount) = 0;
    virtual BOOL Wait(DWORD dwMilliseconds = INFINITE) = 0;
    virtual void SetExtra(PVOID pExtra) = 0;
    virtual PVOID GetExtra() = 0;
    virtual BOOL HasStarted() = 0;
    virtual EnServiceState GetState() = 0;
    virtual EnSocketError GetLastError() = 0;
    virtual LPCTSTR GetLastErrorDesc() = 0;
    virtual BOOL GetLocalAddress(TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
    virtual BOOL GetCastAddress(TCHAR lpszAddress[], int& iAddressLen, USHORT& usPort) = 0;
    virtual EnCastMode GetCastMode() = 0;
    virtual BOOL GetPendingDataLength(int& iPending) = 0;
    virtual void SetMaxDatagramSize(DWORD dwMaxDatagramSize) = 0;
    virtual DWORD GetMaxDatagramSize() = 0;
    virtual void SetMultiCastTtl(int iMCTtl) = 0;
    virtual int GetMultiCastTtl() = 0;
    virtual void SetMultiCastLoop(BOOL bMCLoop) = 0;
    virtual BOOL IsMultiCastLoop() = 0;
    virtual void SetReuseAddressPolicy(EnReuseAddressPolicy enReusePolicy) = 0;
    virtual void SetWorkerThreadCount(DWORD dwWorkerThreadCount) = 0;
    virtual void SetPostReceiveCount(DWORD dwPostReceiveCount) = 0;
    virtual void SetFreeBufferPoolSize(DWORD dwFreeBufferPoolSize) = 0;
    virtual void SetFreeBufferPoolHold(DWORD dwFreeBufferPoolHold) = 0;
    virtual EnReuseAddressPolicy GetReuseAddressPolicy() = 0;
    virtual DWORD GetWorkerThreadCount() = 0;
    virtual DWORD GetPostReceiveCount() = 0;
    virtual DWORD GetFreeBufferPoolSize() = 0;
    virtual DWORD GetFreeBufferPoolHold() = 0;
    virtual ~IUdpNode() = default;
};

/* HP's ARQ settings (KCP), shared by the ARQ server and client. */
#define SHARDNET_HP_ARQ_SETTINGS                                   \
    virtual void SetNoDelay(BOOL bNoDelay) = 0;                    \
    virtual void SetTurnoffCongestCtrl(BOOL bTurnOff) = 0;         \
    virtual void SetFlushInterval(DWORD dwFlushInterval) = 0;      \
    virtual void SetResendByAcks(DWORD dwResendByAcks) = 0;        \
    virtual void SetSendWndSize(DWORD dwSendWndSize) = 0;          \
    virtual void SetRecvWndSize(DWORD dwRecvWndSize) = 0;          \
    virtual void SetMinRto(DWORD dwMinRto) = 0;                    \
    virtual void SetFastLimit(DWORD dwFastLimit) = 0;              \
    virtual void SetMaxTransUnit(DWORD dwMaxTransUnit) = 0;        \
    virtual void SetMaxMessageSize(DWORD dwMaxMessageSize) = 0;    \
    virtual void SetHandShakeTimeout(DWORD dwHandShakeTimeout) = 0; \
    virtual BOOL IsNoDelay() = 0;                                  \
    virtual BOOL IsTurnoffCongestCtrl() = 0;                       \
    virtual DWORD GetFlushInterval() = 0;                          \
    virtual DWORD GetResendByAcks() = 0;                           \
    virtual DWORD GetSendWndSize() = 0;                            \
    virtual DWORD GetRecvWndSize() = 0;                            \
    virtual DWORD GetMinRto() = 0;                                 \
    virtual DWORD GetFastLimit() = 0;                              \
    virtual DWORD GetMaxTransUnit() = 0;                           \
    virtual DWORD GetMaxMessageSize() = 0;                         \
    virtual DWORD GetHandShakeTimeout() = 0;

class IArqSocket
{
public:
    SHARDNET_HP_ARQ_SETTINGS
    /* Messages waiting to be sent or acknowledged: on the connection's thread (callbacks). */
    virtual BOOL GetWaitingSendMessageCount(CONNID dwConnID, int& iCount) = 0;
    virtual ~IArqSocket() = default;
};

class IArqClient
{
public:
    SHARDNET_HP_ARQ_SETTINGS
    /* Messages waiting to be sent or acknowledged: on the client's thread (callbacks). */
    virtual BOOL GetWaitingSendMessageCount(int& iCount) = 0;
    virtual ~IArqClient() = default;
};
#undef SHARDNET_HP_ARQ_SETTINGS

typedef DualInterface<IArqSocket, IUdpServer> IUdpArqServer;
typedef DualInterface<IArqClient, IUdpClient> IUdpArqClient;

/* HTTP (HP's _HTTP_SUPPORT interfaces): an HTTP component is its HTTP face beside the TCP one,
 * `IHttpServer::FromS(pSender)` turning a socket callback's ITcpServer* into the HTTP server. */
class IComplexHttp
{
public:
    virtual BOOL StartHttp(CONNID dwConnID) = 0;
    virtual BOOL SendChunkData(CONNID dwConnID, const BYTE* pData = nullptr, int iLength = 0, LPCSTR lpszExtensions = nullptr) = 0;
    virtual void SetLocalVersion(EnHttpVersion usVersion) = 0;
    virtual EnHttpVersion GetLocalVersion() = 0;
    virtual BOOL IsUpgrade(CONNID dwConnID) = 0;
    virtual BOOL IsKeepAlive(CONNID dwConnID) = 0;
    virtual USHORT GetVersion(CONNID dwConnID) = 0;
    virtual ULONGLONG GetContentLength(CONNID dwConnID) = 0;
    virtual LPCSTR GetContentType(CONNID dwConnID) = 0;
    virtual LPCSTR GetContentEncoding(CONNID dwConnID) = 0;
    virtual LPCSTR GetTransferEncoding(CONNID dwConnID) = 0;
    virtual EnHttpUpgradeType GetUpgradeType(CONNID dwConnID) = 0;
    virtual USHORT GetParseErrorCode(CONNID dwConnID, LPCSTR* lpszErrorDesc = nullptr) = 0;
    virtual BOOL GetHeader(CONNID dwConnID, LPCSTR lpszName, LPCSTR* lpszValue) = 0;
    virtual BOOL GetHeaders(CONNID dwConnID, LPCSTR lpszName, LPCSTR lpszValue[], DWORD& dwCount) = 0;
    virtual BOOL GetAllHeaders(CONNID dwConnID, THeader lpHeaders[], DWORD& dwCount) = 0;
    virtual BOOL GetAllHeaderNames(CONNID dwConnID, LPCSTR lpszName[], DWORD& dwCount) = 0;
    virtual BOOL GetCookie(CONNID dwConnID, LPCSTR lpszName, LPCSTR* lpszValue) = 0;
    virtual BOOL GetAllCookies(CONNID dwConnID, TCookie lpCookies[], DWORD& dwCount) = 0;
    virtual BOOL GetWSMessageState(CONNID dwConnID, BOOL* lpbFinal, BYTE* lpiReserved, BYTE* lpiOperationCode, LPCBYTE* lpszMask, ULONGLONG* lpullBodyLen, ULONGLONG* lpullBodyRemain) = 0;
    virtual void SetHttpAutoStart(BOOL bAutoStart) = 0;
    virtual BOOL IsHttpAutoStart() = 0;
    virtual ~IComplexHttp() = default;
};

class IComplexHttpRequester : public IComplexHttp
{
public:
    virtual BOOL SendWSMessage(CONNID dwConnID, BOOL bFinal, BYTE iReserved, BYTE iOperationCode, const BYTE lpszMask[4], const BYTE* pData = nullptr, int iLength = 0, ULONGLONG ullBodyLen = 0) = 0;
    virtual BOOL SendRequest(CONNID dwConnID, LPCSTR lpszMethod, LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0, const BYTE* pBody = nullptr, int iLength = 0) = 0;
    virtual BOOL SendLocalFile(CONNID dwConnID, LPCSTR lpszFileName, LPCSTR lpszMethod, LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendPost(CONNID dwConnID, LPCSTR lpszPath, const THeader lpHeaders[], int iHeaderCount, const BYTE* pBody, int iLength) = 0;
    virtual BOOL SendPut(CONNID dwConnID, LPCSTR lpszPath, const THeader lpHeaders[], int iHeaderCount, const BYTE* pBody, int iLength) = 0;
    virtual BOOL SendPatch(CONNID dwConnID, LPCSTR lpszPath, const THeader lpHeaders[], int iHeaderCount, const BYTE* pBody, int iLength) = 0;
    virtual BOOL SendGet(CONNID dwConnID, LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendDelete(CONNID dwConnID, LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendHead(CONNID dwConnID, LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendTrace(CONNID dwConnID, LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendOptions(CONNID dwConnID, LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendConnect(CONNID dwConnID, LPCSTR lpszHost, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual USHORT GetStatusCode(CONNID dwConnID) = 0;
    virtual void SetUseCookie(BOOL bUseCookie) = 0;
    virtual BOOL IsUseCookie() = 0;
};

class IComplexHttpResponder : public IComplexHttp
{
public:
    virtual BOOL SendWSMessage(CONNID dwConnID, BOOL bFinal, BYTE iReserved, BYTE iOperationCode, const BYTE* pData, int iLength = 0, ULONGLONG ullBodyLen = 0) = 0;
    virtual BOOL SendResponse(CONNID dwConnID, USHORT usStatusCode, LPCSTR lpszDesc = nullptr, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0, const BYTE* pData = nullptr, int iLength = 0) = 0;
    virtual BOOL SendLocalFile(CONNID dwConnID, LPCSTR lpszFileName, USHORT usStatusCode = HSC_OK, LPCSTR lpszDesc = nullptr, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL Release(CONNID dwConnID) = 0;
    virtual LPCSTR GetHost(CONNID dwConnID) = 0;
    virtual void SetReleaseDelay(DWORD dwReleaseDelay) = 0;
    virtual DWORD GetReleaseDelay() = 0;
    virtual USHORT GetUrlFieldSet(CONNID dwConnID) = 0;
    virtual LPCSTR GetUrlField(CONNID dwConnID, EnHttpUrlField enField) = 0;
    virtual LPCSTR GetMethod(CONNID dwConnID) = 0;
};

class IHttp
{
public:
    virtual BOOL SendWSMessage(BOOL bFinal, BYTE iReserved, BYTE iOperationCode, const BYTE lpszMask[4], const BYTE* pData = nullptr, int iLength = 0, ULONGLONG ullBodyLen = 0) = 0;
    virtual BOOL StartHttp() = 0;
    virtual BOOL SendChunkData(const BYTE* pData = nullptr, int iLength = 0, LPCSTR lpszExtensions = nullptr) = 0;
    virtual void SetLocalVersion(EnHttpVersion usVersion) = 0;
    virtual EnHttpVersion GetLocalVersion() = 0;
    virtual BOOL IsUpgrade() = 0;
    virtual BOOL IsKeepAlive() = 0;
    virtual USHORT GetVersion() = 0;
    virtual ULONGLONG GetContentLength() = 0;
    virtual LPCSTR GetContentType() = 0;
    virtual LPCSTR GetContentEncoding() = 0;
    virtual LPCSTR GetTransferEncoding() = 0;
    virtual EnHttpUpgradeType GetUpgradeType() = 0;
    virtual USHORT GetParseErrorCode(LPCSTR* lpszErrorDesc = nullptr) = 0;
    virtual USHORT GetStatusCode() = 0;
    virtual BOOL GetHeader(LPCSTR lpszName, LPCSTR* lpszValue) = 0;
    virtual BOOL GetHeaders(LPCSTR lpszName, LPCSTR lpszValue[], DWORD& dwCount) = 0;
    virtual BOOL GetAllHeaders(THeader lpHeaders[], DWORD& dwCount) = 0;
    virtual BOOL GetAllHeaderNames(LPCSTR lpszName[], DWORD& dwCount) = 0;
    virtual BOOL GetCookie(LPCSTR lpszName, LPCSTR* lpszValue) = 0;
    virtual BOOL GetAllCookies(TCookie lpCookies[], DWORD& dwCount) = 0;
    virtual BOOL GetWSMessageState(BOOL* lpbFinal, BYTE* lpiReserved, BYTE* lpiOperationCode, LPCBYTE* lpszMask, ULONGLONG* lpullBodyLen, ULONGLONG* lpullBodyRemain) = 0;
    virtual void SetHttpAutoStart(BOOL bAutoStart) = 0;
    virtual BOOL IsHttpAutoStart() = 0;
    virtual ~IHttp() = default;
};

class IHttpRequester : public IHttp
{
public:
    virtual BOOL SendRequest(LPCSTR lpszMethod, LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0, const BYTE* pBody = nullptr, int iLength = 0) = 0;
    virtual BOOL SendLocalFile(LPCSTR lpszFileName, LPCSTR lpszMethod, LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendPost(LPCSTR lpszPath, const THeader lpHeaders[], int iHeaderCount, const BYTE* pBody, int iLength) = 0;
    virtual BOOL SendPut(LPCSTR lpszPath, const THeader lpHeaders[], int iHeaderCount, const BYTE* pBody, int iLength) = 0;
    virtual BOOL SendPatch(LPCSTR lpszPath, const THeader lpHeaders[], int iHeaderCount, const BYTE* pBody, int iLength) = 0;
    virtual BOOL SendGet(LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendDelete(LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendHead(LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendTrace(LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendOptions(LPCSTR lpszPath, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual BOOL SendConnect(LPCSTR lpszHost, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0) = 0;
    virtual void SetUseCookie(BOOL bUseCookie) = 0;
    virtual BOOL IsUseCookie() = 0;
};

class IHttpSyncRequester : public IHttpRequester
{
public:
    virtual BOOL OpenUrl(LPCSTR lpszMethod, LPCSTR lpszUrl, const THeader lpHeaders[] = nullptr, int iHeaderCount = 0, const BYTE* pBody = nullptr, int iLength = 0, BOOL bForceReconnect = FALSE) = 0;
    virtual BOOL CleanupRequestResult() = 0;
    virtual void SetConnectTimeout(DWORD dwConnectTimeout) = 0;
    virtual void SetRequestTimeout(DWORD dwRequestTimeout) = 0;
    virtual DWORD GetConnectTimeout() = 0;
    virtual DWORD GetRequestTimeout() = 0;
    virtual BOOL GetResponseBody(LPCBYTE* lpszBody, int* iLength) = 0;
};

typedef DualInterface<IComplexHttpResponder, ITcpServer> IHttpServer;
typedef DualInterface<IComplexHttpRequester, ITcpAgent> IHttpAgent;
typedef DualInterface<IHttpRequester, ITcpClient> IHttpClient;
typedef DualInterface<IHttpSyncRequester, ITcpClient> IHttpSyncClient;

/* ---------------------------------------------------------------- listeners --------------- */

template <class T>
class ISocketListenerT
{
public:
    virtual EnHandleResult OnHandShake(T* pSender, CONNID dwConnID) = 0;
    virtual EnHandleResult OnSend(T* pSender, CONNID dwConnID, const BYTE* pData, int iLength) = 0;
    virtual EnHandleResult OnReceive(T* pSender, CONNID dwConnID, const BYTE* pData, int iLength) = 0;
    virtual EnHandleResult OnReceive(T* pSender, CONNID dwConnID, int iLength) = 0;
    virtual EnHandleResult OnClose(T* pSender, CONNID dwConnID, EnSocketOperation enOperation, int iErrorCode) = 0;
    virtual ~ISocketListenerT() = default;
};

template <class T>
class IComplexSocketListenerT : public ISocketListenerT<T>
{
public:
    virtual EnHandleResult OnShutdown(T* pSender) = 0;
};

template <class T>
class IServerListenerT : public IComplexSocketListenerT<T>
{
public:
    virtual EnHandleResult OnPrepareListen(T* pSender, SOCKET soListen) = 0;
    virtual EnHandleResult OnAccept(T* pSender, CONNID dwConnID, UINT_PTR soClient) = 0;
};

template <class T>
class IAgentListenerT : public IComplexSocketListenerT<T>
{
public:
    virtual EnHandleResult OnPrepareConnect(T* pSender, CONNID dwConnID, SOCKET socket) = 0;
    virtual EnHandleResult OnConnect(T* pSender, CONNID dwConnID) = 0;
};

/* Clients have no OnShutdown (HP's C++ API). */
template <class T>
class IClientListenerT : public ISocketListenerT<T>
{
public:
    virtual EnHandleResult OnPrepareConnect(T* pSender, CONNID dwConnID, SOCKET socket) = 0;
    virtual EnHandleResult OnConnect(T* pSender, CONNID dwConnID) = 0;
};

class ITcpServerListener : public IServerListenerT<ITcpServer>
{
};

class ITcpClientListener : public IClientListenerT<ITcpClient>
{
};

class ITcpAgentListener : public IAgentListenerT<ITcpAgent>
{
};

class CTcpServerListener : public ITcpServerListener
{
public:
    virtual EnHandleResult OnPrepareListen(ITcpServer*, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnAccept(ITcpServer*, CONNID, UINT_PTR) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(ITcpServer*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(ITcpServer*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(ITcpServer*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnShutdown(ITcpServer*) override { return HR_IGNORE; }
    using ITcpServerListener::OnReceive;
};

class CTcpPullServerListener : public CTcpServerListener
{
public:
    virtual EnHandleResult OnReceive(ITcpServer* pSender, CONNID dwConnID, int iLength) override = 0;
    virtual EnHandleResult OnReceive(ITcpServer*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
};

class CTcpAgentListener : public ITcpAgentListener
{
public:
    virtual EnHandleResult OnPrepareConnect(ITcpAgent*, CONNID, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnConnect(ITcpAgent*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(ITcpAgent*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(ITcpAgent*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(ITcpAgent*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnShutdown(ITcpAgent*) override { return HR_IGNORE; }
    using ITcpAgentListener::OnReceive;
};

class CTcpPullAgentListener : public CTcpAgentListener
{
public:
    virtual EnHandleResult OnReceive(ITcpAgent* pSender, CONNID dwConnID, int iLength) override = 0;
    virtual EnHandleResult OnReceive(ITcpAgent*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
};

class CTcpClientListener : public ITcpClientListener
{
public:
    virtual EnHandleResult OnPrepareConnect(ITcpClient*, CONNID, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnConnect(ITcpClient*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(ITcpClient*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(ITcpClient*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(ITcpClient*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    using ITcpClientListener::OnReceive;
};

class CTcpPullClientListener : public CTcpClientListener
{
public:
    virtual EnHandleResult OnReceive(ITcpClient* pSender, CONNID dwConnID, int iLength) override = 0;
    virtual EnHandleResult OnReceive(ITcpClient*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
};

class IUdpServerListener : public IServerListenerT<IUdpServer>
{
};

class IUdpClientListener : public IClientListenerT<IUdpClient>
{
};

/* UDP's OnAccept gets the peer's address (a `const SOCKADDR*` in its UINT_PTR). */
class CUdpServerListener : public IUdpServerListener
{
public:
    virtual EnHandleResult OnPrepareListen(IUdpServer*, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnAccept(IUdpServer*, CONNID, UINT_PTR) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(IUdpServer*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(IUdpServer*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(IUdpServer*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnShutdown(IUdpServer*) override { return HR_IGNORE; }
    using IUdpServerListener::OnReceive;
};

class CUdpClientListener : public IUdpClientListener
{
public:
    virtual EnHandleResult OnPrepareConnect(IUdpClient*, CONNID, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnConnect(IUdpClient*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(IUdpClient*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(IUdpClient*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(IUdpClient*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    using IUdpClientListener::OnReceive;
};

/* The ARQ components take the UDP listeners (HP's). */
typedef IUdpServerListener IUdpArqServerListener;
typedef IUdpClientListener IUdpArqClientListener;
typedef CUdpServerListener CUdpArqServerListener;
typedef CUdpClientListener CUdpArqClientListener;

class IUdpCastListener : public IClientListenerT<IUdpCast>
{
};

/* OnReceive (with the data) and OnClose stay to write (HP's). */
class CUdpCastListener : public IUdpCastListener
{
public:
    virtual EnHandleResult OnPrepareConnect(IUdpCast*, CONNID, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnConnect(IUdpCast*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnHandShake(IUdpCast*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnReceive(IUdpCast*, CONNID, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(IUdpCast*, CONNID, const BYTE*, int) override { return HR_IGNORE; }
    using IUdpCastListener::OnReceive;
};

class IUdpNodeListener
{
public:
    virtual EnHandleResult OnPrepareListen(IUdpNode* pSender, SOCKET soListen) = 0;
    virtual EnHandleResult OnSend(IUdpNode* pSender, LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const BYTE* pData, int iLength) = 0;
    virtual EnHandleResult OnReceive(IUdpNode* pSender, LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const BYTE* pData, int iLength) = 0;
    virtual EnHandleResult OnError(IUdpNode* pSender, EnSocketOperation enOperation, int iErrorCode, LPCTSTR lpszRemoteAddress, USHORT usRemotePort, const BYTE* pData, int iLength) = 0;
    virtual EnHandleResult OnShutdown(IUdpNode* pSender) = 0;
    virtual ~IUdpNodeListener() = default;
};

/* OnReceive and OnError stay to write (HP's). */
class CUdpNodeListener : public IUdpNodeListener
{
public:
    virtual EnHandleResult OnPrepareListen(IUdpNode*, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnSend(IUdpNode*, LPCTSTR, USHORT, const BYTE*, int) override { return HR_IGNORE; }
    virtual EnHandleResult OnShutdown(IUdpNode*) override { return HR_IGNORE; }
};

/* HTTP listeners: the HTTP callbacks get the HTTP component, the socket ones its TCP face. */
template <class T>
class IHttpListenerT
{
public:
    virtual EnHttpParseResult OnMessageBegin(T* pSender, CONNID dwConnID) = 0;
    virtual EnHttpParseResult OnRequestLine(T* pSender, CONNID dwConnID, LPCSTR lpszMethod, LPCSTR lpszUrl) = 0;
    virtual EnHttpParseResult OnStatusLine(T* pSender, CONNID dwConnID, USHORT usStatusCode, LPCSTR lpszDesc) = 0;
    virtual EnHttpParseResult OnHeader(T* pSender, CONNID dwConnID, LPCSTR lpszName, LPCSTR lpszValue) = 0;
    virtual EnHttpParseResult OnHeadersComplete(T* pSender, CONNID dwConnID) = 0;
    virtual EnHttpParseResult OnBody(T* pSender, CONNID dwConnID, const BYTE* pData, int iLength) = 0;
    virtual EnHttpParseResult OnChunkHeader(T* pSender, CONNID dwConnID, int iLength) = 0;
    virtual EnHttpParseResult OnChunkComplete(T* pSender, CONNID dwConnID) = 0;
    virtual EnHttpParseResult OnMessageComplete(T* pSender, CONNID dwConnID) = 0;
    virtual EnHttpParseResult OnUpgrade(T* pSender, CONNID dwConnID, EnHttpUpgradeType enUpgradeType) = 0;
    virtual EnHttpParseResult OnParseError(T* pSender, CONNID dwConnID, int iErrorCode, LPCSTR lpszErrorDesc) = 0;
    virtual EnHandleResult OnWSMessageHeader(T* pSender, CONNID dwConnID, BOOL bFinal, BYTE iReserved, BYTE iOperationCode, const BYTE lpszMask[4], ULONGLONG ullBodyLen) = 0;
    virtual EnHandleResult OnWSMessageBody(T* pSender, CONNID dwConnID, const BYTE* pData, int iLength) = 0;
    virtual EnHandleResult OnWSMessageComplete(T* pSender, CONNID dwConnID) = 0;
    virtual ~IHttpListenerT() = default;
};

class IHttpServerListener : public IHttpListenerT<IHttpServer>, public ITcpServerListener
{
};

class IHttpAgentListener : public IHttpListenerT<IHttpAgent>, public ITcpAgentListener
{
};

class IHttpClientListener : public IHttpListenerT<IHttpClient>, public ITcpClientListener
{
};

/* HP's defaults: HPR_OK for the parse callbacks below, HR_IGNORE for the WebSocket and socket
 * ones; OnClose, OnHeadersComplete, OnBody, OnMessageComplete and OnParseError stay to write. */
#define SHARDNET_HP_HTTP_DEFAULTS(H)                                                                                   \
    virtual EnHttpParseResult OnMessageBegin(H*, CONNID) override { return HPR_OK; }                                   \
    virtual EnHttpParseResult OnRequestLine(H*, CONNID, LPCSTR, LPCSTR) override { return HPR_OK; }                    \
    virtual EnHttpParseResult OnStatusLine(H*, CONNID, USHORT, LPCSTR) override { return HPR_OK; }                     \
    virtual EnHttpParseResult OnHeader(H*, CONNID, LPCSTR, LPCSTR) override { return HPR_OK; }                         \
    virtual EnHttpParseResult OnChunkHeader(H*, CONNID, int) override { return HPR_OK; }                               \
    virtual EnHttpParseResult OnChunkComplete(H*, CONNID) override { return HPR_OK; }                                  \
    virtual EnHttpParseResult OnUpgrade(H*, CONNID, EnHttpUpgradeType) override { return HPR_OK; }                     \
    virtual EnHandleResult OnWSMessageHeader(H*, CONNID, BOOL, BYTE, BYTE, const BYTE[4], ULONGLONG) override { return HR_IGNORE; } \
    virtual EnHandleResult OnWSMessageBody(H*, CONNID, const BYTE*, int) override { return HR_IGNORE; }                \
    virtual EnHandleResult OnWSMessageComplete(H*, CONNID) override { return HR_IGNORE; }

#define SHARDNET_HP_SOCKET_DEFAULTS(S)                                                                                 \
    virtual EnHandleResult OnHandShake(S*, CONNID) override { return HR_IGNORE; }                                      \
    virtual EnHandleResult OnReceive(S*, CONNID, int) override { return HR_IGNORE; }                                   \
    virtual EnHandleResult OnReceive(S*, CONNID, const BYTE*, int) override { return HR_IGNORE; }                      \
    virtual EnHandleResult OnSend(S*, CONNID, const BYTE*, int) override { return HR_IGNORE; }

class CHttpServerListener : public IHttpServerListener
{
public:
    virtual EnHandleResult OnPrepareListen(ITcpServer*, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnAccept(ITcpServer*, CONNID, UINT_PTR) override { return HR_IGNORE; }
    virtual EnHandleResult OnShutdown(ITcpServer*) override { return HR_IGNORE; }
    SHARDNET_HP_SOCKET_DEFAULTS(ITcpServer)
    SHARDNET_HP_HTTP_DEFAULTS(IHttpServer)
};

class CHttpAgentListener : public IHttpAgentListener
{
public:
    virtual EnHandleResult OnPrepareConnect(ITcpAgent*, CONNID, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnConnect(ITcpAgent*, CONNID) override { return HR_IGNORE; }
    virtual EnHandleResult OnShutdown(ITcpAgent*) override { return HR_IGNORE; }
    SHARDNET_HP_SOCKET_DEFAULTS(ITcpAgent)
    SHARDNET_HP_HTTP_DEFAULTS(IHttpAgent)
};

class CHttpClientListener : public IHttpClientListener
{
public:
    virtual EnHandleResult OnPrepareConnect(ITcpClient*, CONNID, SOCKET) override { return HR_IGNORE; }
    virtual EnHandleResult OnConnect(ITcpClient*, CONNID) override { return HR_IGNORE; }
    SHARDNET_HP_SOCKET_DEFAULTS(ITcpClient)
    SHARDNET_HP_HTTP_DEFAULTS(IHttpClient)
};
#undef SHARDNET_HP_HTTP_DEFAULTS
#undef SHARDNET_HP_SOCKET_DEFAULTS

/* The sync client's listener: every callback written (HP's). */
class CHttpSyncClientListener : public CHttpClientListener
{
public:
    virtual EnHandleResult OnClose(ITcpClient*, CONNID, EnSocketOperation, int) override { return HR_IGNORE; }
    virtual EnHttpParseResult OnHeadersComplete(IHttpClient*, CONNID) override { return HPR_OK; }
    virtual EnHttpParseResult OnBody(IHttpClient*, CONNID, const BYTE*, int) override { return HPR_OK; }
    virtual EnHttpParseResult OnMessageComplete(IHttpClient*, CONNID) override { return HPR_OK; }
    virtual EnHttpParseResult OnParseError(IHttpClient*, CONNID, int, LPCSTR) override { return HPR_OK; }
};

/* ---------------------------------------------------------------- implementation ---------- */

namespace shardnet_hp
{
/* C handle -> C++ component, for the callbacks (which get the C handle). A few components
 * per program: a short lock-free table, scanned up to its high-water mark. */
struct Registry {
    static constexpr int N = 1024;
    std::atomic<void*> keys[N];
    std::atomic<void*> vals[N];
    std::atomic<int> used{0};
    static Registry& get()
    {
        static Registry r;
        return r;
    }
    void add(void* k, void* v)
    {
        for (int i = 0; i < N; i++) {
            void* expected = nullptr;
            if (keys[i].compare_exchange_strong(expected, k)) {
                vals[i].store(v);
                int u = used.load();
                while (u < i + 1 && !used.compare_exchange_weak(u, i + 1)) {
                }
                return;
            }
        }
    }
    void* find(void* k)
    {
        int u = used.load(std::memory_order_acquire);
        for (int i = 0; i < u; i++)
            if (keys[i].load(std::memory_order_acquire) == k)
                return vals[i].load(std::memory_order_acquire);
        return nullptr;
    }
    /* Removes the entry of (k, v) only: a new component may already reuse address k. */
    void remove(void* k, void* v)
    {
        int u = used.load();
        for (int i = 0; i < u; i++)
            if (keys[i].load() == k && vals[i].load() == v) {
                vals[i].store(nullptr);
                keys[i].store(nullptr);
                return;
            }
    }
};

/* IComplexSocket over the HP_<P>_* C functions of handle m_h. */
#define SHARDNET_HP_COMPLEX(P)                                                                                   \
    BOOL Stop() override { return HP_##P##_Stop(m_h); }                                                          \
    BOOL Send(CONNID c, const BYTE* b, int n, int off = 0) override { return HP_##P##_SendPart(m_h, c, b, n, off); } \
    BOOL SendPackets(CONNID c, const WSABUF bufs[], int n) override { return HP_##P##_SendPackets(m_h, c, bufs, n); } \
    BOOL PauseReceive(CONNID c, BOOL p = TRUE) override { return HP_##P##_PauseReceive(m_h, c, p); }            \
    BOOL Disconnect(CONNID c, BOOL f = TRUE) override { return HP_##P##_Disconnect(m_h, c, f); }                \
    BOOL DisconnectLongConnections(DWORD t, BOOL f = TRUE) override { return HP_##P##_DisconnectLongConnections(m_h, t, f); } \
    BOOL DisconnectSilenceConnections(DWORD t, BOOL f = TRUE) override { return HP_##P##_DisconnectSilenceConnections(m_h, t, f); } \
    BOOL Wait(DWORD ms = INFINITE) override { return HP_##P##_Wait(m_h, ms); }                                  \
    BOOL SetConnectionExtra(CONNID c, PVOID x) override { return HP_##P##_SetConnectionExtra(m_h, c, x); }      \
    BOOL GetConnectionExtra(CONNID c, PVOID* x) override { return HP_##P##_GetConnectionExtra(m_h, c, x); }     \
    BOOL IsSecure() override { return HP_##P##_IsSecure(m_h); }                                                 \
    BOOL HasStarted() override { return HP_##P##_HasStarted(m_h); }                                             \
    EnServiceState GetState() override { return HP_##P##_GetState(m_h); }                                      \
    DWORD GetConnectionCount() override { return HP_##P##_GetConnectionCount(m_h); }                            \
    BOOL GetAllConnectionIDs(CONNID ids[], DWORD& n) override { return HP_##P##_GetAllConnectionIDs(m_h, ids, &n); } \
    BOOL GetConnectPeriod(CONNID c, DWORD& t) override { return HP_##P##_GetConnectPeriod(m_h, c, &t); }        \
    BOOL GetSilencePeriod(CONNID c, DWORD& t) override { return HP_##P##_GetSilencePeriod(m_h, c, &t); }        \
    BOOL GetLocalAddress(CONNID c, TCHAR a[], int& n, USHORT& p) override { return HP_##P##_GetLocalAddress(m_h, c, a, &n, &p); } \
    BOOL GetRemoteAddress(CONNID c, TCHAR a[], int& n, USHORT& p) override { return HP_##P##_GetRemoteAddress(m_h, c, a, &n, &p); } \
    EnSocketError GetLastError() override { return HP_##P##_GetLastError(m_h); }                               \
    LPCTSTR GetLastErrorDesc() override { return HP_##P##_GetLastErrorDesc(m_h); }                              \
    BOOL GetPendingDataLength(CONNID c, int& n) override { return HP_##P##_GetPendingDataLength(m_h, c, &n); }  \
    BOOL IsPauseReceive(CONNID c, BOOL& p) override { return HP_##P##_IsPauseReceive(m_h, c, &p); }             \
    BOOL IsConnected(CONNID c) override { return HP_##P##_IsConnected(m_h, c); }                                \
    void SetReuseAddressPolicy(EnReuseAddressPolicy v) override { HP_##P##_SetReuseAddressPolicy(m_h, v); }     \
    void SetSendPolicy(EnSendPolicy v) override { HP_##P##_SetSendPolicy(m_h, v); }                             \
    void SetOnSendSyncPolicy(EnOnSendSyncPolicy v) override { HP_##P##_SetOnSendSyncPolicy(m_h, v); }           \
    void SetMaxConnectionCount(DWORD v) override { HP_##P##_SetMaxConnectionCount(m_h, v); }                    \
    void SetFreeSocketObjLockTime(DWORD v) override { HP_##P##_SetFreeSocketObjLockTime(m_h, v); }              \
    void SetFreeSocketObjPool(DWORD v) override { HP_##P##_SetFreeSocketObjPool(m_h, v); }                      \
    void SetFreeBufferObjPool(DWORD v) override { HP_##P##_SetFreeBufferObjPool(m_h, v); }                      \
    void SetFreeSocketObjHold(DWORD v) override { HP_##P##_SetFreeSocketObjHold(m_h, v); }                      \
    void SetFreeBufferObjHold(DWORD v) override { HP_##P##_SetFreeBufferObjHold(m_h, v); }                      \
    void SetWorkerThreadCount(DWORD v) override { HP_##P##_SetWorkerThreadCount(m_h, v); }                      \
    void SetMarkSilence(BOOL v) override { HP_##P##_SetMarkSilence(m_h, v); }                                   \
    EnReuseAddressPolicy GetReuseAddressPolicy() override { return HP_##P##_GetReuseAddressPolicy(m_h); }       \
    EnSendPolicy GetSendPolicy() override { return HP_##P##_GetSendPolicy(m_h); }                               \
    EnOnSendSyncPolicy GetOnSendSyncPolicy() override { return HP_##P##_GetOnSendSyncPolicy(m_h); }             \
    DWORD GetMaxConnectionCount() override { return HP_##P##_GetMaxConnectionCount(m_h); }                      \
    DWORD GetFreeSocketObjLockTime() override { return HP_##P##_GetFreeSocketObjLockTime(m_h); }                \
    DWORD GetFreeSocketObjPool() override { return HP_##P##_GetFreeSocketObjPool(m_h); }                        \
    DWORD GetFreeBufferObjPool() override { return HP_##P##_GetFreeBufferObjPool(m_h); }                        \
    DWORD GetFreeSocketObjHold() override { return HP_##P##_GetFreeSocketObjHold(m_h); }                        \
    DWORD GetFreeBufferObjHold() override { return HP_##P##_GetFreeBufferObjHold(m_h); }                        \
    DWORD GetWorkerThreadCount() override { return HP_##P##_GetWorkerThreadCount(m_h); }                        \
    BOOL IsMarkSilence() override { return HP_##P##_IsMarkSilence(m_h); }

/* The C callbacks of one C++ component type `C` (its listener type `L`, sender type `S`). */
template <class C, class S, class L>
struct Trampolines {
    static C* of(void* h) { return static_cast<C*>(Registry::get().find(h)); }
    static En_HP_HandleResult __HP_CALL HandShake(void* h, HP_CONNID c)
    {
        C* o = of(h);
        return o ? o->m_l->OnHandShake(static_cast<S*>(o), c) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Send(void* h, HP_CONNID c, const BYTE* d, int n)
    {
        C* o = of(h);
        return o ? o->m_l->OnSend(static_cast<S*>(o), c, d, n) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Receive(void* h, HP_CONNID c, const BYTE* d, int n)
    {
        C* o = of(h);
        return o ? o->m_l->OnReceive(static_cast<S*>(o), c, d, n) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL PullReceive(void* h, HP_CONNID c, int n)
    {
        C* o = of(h);
        return o ? o->m_l->OnReceive(static_cast<S*>(o), c, n) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Close(void* h, HP_CONNID c, En_HP_SocketOperation op, int e)
    {
        C* o = of(h);
        return o ? o->m_l->OnClose(static_cast<S*>(o), c, op, e) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Shutdown(void* h)
    {
        C* o = of(h);
        return o ? o->m_l->OnShutdown(static_cast<S*>(o)) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL PrepareListen(void* h, UINT_PTR s)
    {
        C* o = of(h);
        return o ? o->m_l->OnPrepareListen(static_cast<S*>(o), (SOCKET)s) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Accept(void* h, HP_CONNID c, UINT_PTR s)
    {
        C* o = of(h);
        return o ? o->m_l->OnAccept(static_cast<S*>(o), c, s) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL PrepareConnect(void* h, HP_CONNID c, UINT_PTR s)
    {
        C* o = of(h);
        return o ? o->m_l->OnPrepareConnect(static_cast<S*>(o), c, (SOCKET)s) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL Connect(void* h, HP_CONNID c)
    {
        C* o = of(h);
        return o ? o->m_l->OnConnect(static_cast<S*>(o), c) : HR_IGNORE;
    }
};

enum class Model { Push, Pull, Pack };

/* IClient's methods over an HP_Client handle `m_h` (TCP and UDP clients alike). */
#define SHARDNET_HP_CLIENT                                                                                        \
    BOOL Start(LPCTSTR host, USHORT port, BOOL async = TRUE, LPCTSTR bind = nullptr, USHORT lport = 0) override \
    {                                                                                                             \
        if (bind == nullptr && lport == 0)                                                                        \
            return HP_Client_Start(m_h, host, port, async);                                                       \
        return HP_Client_StartWithBindAddressAndLocalPort(m_h, host, port, async, bind, lport);                   \
    }                                                                                                             \
    BOOL Stop() override { return HP_Client_Stop(m_h); }                                                      \
    BOOL Send(const BYTE* b, int n, int off = 0) override { return HP_Client_SendPart(m_h, b, n, off); }      \
    BOOL SendPackets(const WSABUF bufs[], int n) override { return HP_Client_SendPackets(m_h, bufs, n); }     \
    BOOL PauseReceive(BOOL p = TRUE) override { return HP_Client_PauseReceive(m_h, p); }                      \
    BOOL Wait(DWORD ms = INFINITE) override { return HP_Client_Wait(m_h, ms); }                               \
    void SetExtra(PVOID x) override { HP_Client_SetExtra(m_h, x); }                                           \
    PVOID GetExtra() override { return HP_Client_GetExtra(m_h); }                                             \
    BOOL IsSecure() override { return HP_Client_IsSecure(m_h); }                                              \
    BOOL HasStarted() override { return HP_Client_HasStarted(m_h); }                                          \
    EnServiceState GetState() override { return HP_Client_GetState(m_h); }                                    \
    EnSocketError GetLastError() override { return HP_Client_GetLastError(m_h); }                             \
    LPCTSTR GetLastErrorDesc() override { return HP_Client_GetLastErrorDesc(m_h); }                           \
    CONNID GetConnectionID() override { return HP_Client_GetConnectionID(m_h); }                              \
    BOOL GetLocalAddress(TCHAR a[], int& n, USHORT& p) override { return HP_Client_GetLocalAddress(m_h, a, &n, &p); }\
    BOOL GetRemoteHost(TCHAR a[], int& n, USHORT& p) override { return HP_Client_GetRemoteHost(m_h, a, &n, &p); }\
    BOOL GetPendingDataLength(int& n) override { return HP_Client_GetPendingDataLength(m_h, &n); }            \
    BOOL IsPauseReceive(BOOL& p) override { return HP_Client_IsPauseReceive(m_h, &p); }                       \
    BOOL IsConnected() override { return HP_Client_IsConnected(m_h); }                                        \
    void SetReuseAddressPolicy(EnReuseAddressPolicy v) override { HP_Client_SetReuseAddressPolicy(m_h, v); }  \
    void SetFreeBufferPoolSize(DWORD v) override { HP_Client_SetFreeBufferPoolSize(m_h, v); }                 \
    void SetFreeBufferPoolHold(DWORD v) override { HP_Client_SetFreeBufferPoolHold(m_h, v); }                 \
    EnReuseAddressPolicy GetReuseAddressPolicy() override { return HP_Client_GetReuseAddressPolicy(m_h); }    \
    DWORD GetFreeBufferPoolSize() override { return HP_Client_GetFreeBufferPoolSize(m_h); }                   \
    DWORD GetFreeBufferPoolHold() override { return HP_Client_GetFreeBufferPoolHold(m_h); }


/* ITcpServer's own methods over an HP_TcpServer (or HTTP server) handle `m_h`. */
#define SHARDNET_HP_TCP_SERVER \
    BOOL Start(LPCTSTR a, USHORT p) override { return HP_Server_Start(m_h, a, p); }                                                                                    \
    BOOL GetListenAddress(TCHAR a[], int& n, USHORT& p) override { return HP_Server_GetListenAddress(m_h, a, &n, &p); }                                                \
    BOOL SendSmallFile(CONNID c, LPCTSTR f, const LPWSABUF h = nullptr, const LPWSABUF t = nullptr) override { return HP_TcpServer_SendSmallFile(m_h, c, f, h, t); }   \
    void SetAcceptSocketCount(DWORD v) override { HP_TcpServer_SetAcceptSocketCount(m_h, v); }                                                                         \
    void SetSocketBufferSize(DWORD v) override { HP_TcpServer_SetSocketBufferSize(m_h, v); }                                                                           \
    void SetSocketListenQueue(DWORD v) override { HP_TcpServer_SetSocketListenQueue(m_h, v); }                                                                         \
    void SetKeepAliveTime(DWORD v) override { HP_TcpServer_SetKeepAliveTime(m_h, v); }                                                                                 \
    void SetKeepAliveInterval(DWORD v) override { HP_TcpServer_SetKeepAliveInterval(m_h, v); }                                                                         \
    DWORD GetAcceptSocketCount() override { return HP_TcpServer_GetAcceptSocketCount(m_h); }                                                                           \
    DWORD GetSocketBufferSize() override { return HP_TcpServer_GetSocketBufferSize(m_h); }                                                                             \
    DWORD GetSocketListenQueue() override { return HP_TcpServer_GetSocketListenQueue(m_h); }                                                                           \
    DWORD GetKeepAliveTime() override { return HP_TcpServer_GetKeepAliveTime(m_h); }                                                                                   \
    DWORD GetKeepAliveInterval() override { return HP_TcpServer_GetKeepAliveInterval(m_h); }                                                                            \
    BOOL SetupSSLContext(int m = SSL_VM_NONE, LPCTSTR c = nullptr, LPCTSTR k = nullptr, LPCTSTR p = nullptr, LPCTSTR ca = nullptr, Fn_SNI_ServerNameCallback f = nullptr) override { return HP_SSLServer_SetupSSLContext(m_h, m, c, k, p, ca, f); } \
    BOOL SetupSSLContextByMemory(int m = SSL_VM_NONE, LPCSTR c = nullptr, LPCSTR k = nullptr, LPCSTR p = nullptr, LPCSTR ca = nullptr, Fn_SNI_ServerNameCallback f = nullptr) override { return HP_SSLServer_SetupSSLContextByMemory(m_h, m, c, k, p, ca, f); } \
    int AddSSLContext(int m = SSL_VM_NONE, LPCTSTR c = nullptr, LPCTSTR k = nullptr, LPCTSTR p = nullptr, LPCTSTR ca = nullptr) override { return HP_SSLServer_AddSSLContext(m_h, m, c, k, p, ca); } \
    int AddSSLContextByMemory(int m = SSL_VM_NONE, LPCSTR c = nullptr, LPCSTR k = nullptr, LPCSTR p = nullptr, LPCSTR ca = nullptr) override { return HP_SSLServer_AddSSLContextByMemory(m_h, m, c, k, p, ca); } \
    BOOL BindSSLServerName(LPCTSTR n, int i) override { return HP_SSLServer_BindSSLServerName(m_h, n, i); }                                                             \
    void CleanupSSLContext() override { HP_SSLServer_CleanupSSLContext(m_h); }                                                                                          \
    BOOL StartSSLHandShake(CONNID c) override { return HP_SSLServer_StartSSLHandShake(m_h, c); }                                                                        \
    void SetSSLAutoHandShake(BOOL b) override { HP_SSLServer_SetSSLAutoHandShake(m_h, b); }                                                                             \
    BOOL IsSSLAutoHandShake() override { return HP_SSLServer_IsSSLAutoHandShake(m_h); }                                                                                 \
    void SetSSLCipherList(LPCTSTR l) override { HP_SSLServer_SetSSLCipherList(m_h, l); }                                                                                \
    LPCTSTR GetSSLCipherList() override { return HP_SSLServer_GetSSLCipherList(m_h); }                                                                                  \
    BOOL GetSSLSessionInfo(CONNID c, EnSSLSessionInfo e, LPVOID* p) override { return HP_SSLServer_GetSSLSessionInfo(m_h, c, e, p); }

/* IAgent's and ITcpAgent's own methods over an agent handle `m_h`. */
#define SHARDNET_HP_TCP_AGENT \
    BOOL Start(LPCTSTR a = nullptr, BOOL async = TRUE) override { return HP_Agent_Start(m_h, a, async); }                                                             \
    BOOL Connect(LPCTSTR host, USHORT port, CONNID* id = nullptr, PVOID extra = nullptr, USHORT lport = 0, LPCTSTR laddr = nullptr) override                          \
    {                                                                                                                                                                 \
        if (lport == 0 && laddr == nullptr)                                                                                                                           \
            return extra ? HP_Agent_ConnectWithExtra(m_h, host, port, id, extra) : HP_Agent_Connect(m_h, host, port, id);                                             \
        return HP_Agent_ConnectWithExtraAndLocalAddressPort(m_h, host, port, id, extra, lport, laddr);                                                                \
    }                                                                                                                                                                 \
    BOOL GetRemoteHost(CONNID c, TCHAR a[], int& n, USHORT& p) override { return HP_Agent_GetRemoteHost(m_h, c, a, &n, &p); }                                         \
    BOOL SendSmallFile(CONNID c, LPCTSTR f, const LPWSABUF h = nullptr, const LPWSABUF t = nullptr) override { return HP_TcpAgent_SendSmallFile(m_h, c, f, h, t); }   \
    void SetSocketBufferSize(DWORD v) override { HP_TcpAgent_SetSocketBufferSize(m_h, v); }                                                                           \
    void SetKeepAliveTime(DWORD v) override { HP_TcpAgent_SetKeepAliveTime(m_h, v); }                                                                                 \
    void SetKeepAliveInterval(DWORD v) override { HP_TcpAgent_SetKeepAliveInterval(m_h, v); }                                                                         \
    DWORD GetSocketBufferSize() override { return HP_TcpAgent_GetSocketBufferSize(m_h); }                                                                             \
    DWORD GetKeepAliveTime() override { return HP_TcpAgent_GetKeepAliveTime(m_h); }                                                                                   \
    DWORD GetKeepAliveInterval() override { return HP_TcpAgent_GetKeepAliveInterval(m_h); }                                                                            \
    BOOL SetupSSLContext(int m = SSL_VM_NONE, LPCTSTR c = nullptr, LPCTSTR k = nullptr, LPCTSTR p = nullptr, LPCTSTR ca = nullptr) override { return HP_SSLAgent_SetupSSLContext(m_h, m, c, k, p, ca); } \
    BOOL SetupSSLContextByMemory(int m = SSL_VM_NONE, LPCSTR c = nullptr, LPCSTR k = nullptr, LPCSTR p = nullptr, LPCSTR ca = nullptr) override { return HP_SSLAgent_SetupSSLContextByMemory(m_h, m, c, k, p, ca); } \
    void CleanupSSLContext() override { HP_SSLAgent_CleanupSSLContext(m_h); }                                                                                          \
    BOOL StartSSLHandShake(CONNID c) override { return HP_SSLAgent_StartSSLHandShake(m_h, c); }                                                                        \
    void SetSSLAutoHandShake(BOOL b) override { HP_SSLAgent_SetSSLAutoHandShake(m_h, b); }                                                                             \
    BOOL IsSSLAutoHandShake() override { return HP_SSLAgent_IsSSLAutoHandShake(m_h); }                                                                                 \
    void SetSSLCipherList(LPCTSTR l) override { HP_SSLAgent_SetSSLCipherList(m_h, l); }                                                                                \
    LPCTSTR GetSSLCipherList() override { return HP_SSLAgent_GetSSLCipherList(m_h); }                                                                                  \
    BOOL GetSSLSessionInfo(CONNID c, EnSSLSessionInfo e, LPVOID* p) override { return HP_SSLAgent_GetSSLSessionInfo(m_h, c, e, p); }

/* ITcpClient's own methods over a TCP (or HTTP) client handle `m_h`. */
#define SHARDNET_HP_TCP_CLIENT \
    BOOL SendSmallFile(LPCTSTR f, const LPWSABUF h = nullptr, const LPWSABUF t = nullptr) override { return HP_TcpClient_SendSmallFile(m_h, f, h, t); }   \
    void SetSocketBufferSize(DWORD v) override { HP_TcpClient_SetSocketBufferSize(m_h, v); }                                                              \
    void SetKeepAliveTime(DWORD v) override { HP_TcpClient_SetKeepAliveTime(m_h, v); }                                                                    \
    void SetKeepAliveInterval(DWORD v) override { HP_TcpClient_SetKeepAliveInterval(m_h, v); }                                                            \
    DWORD GetSocketBufferSize() override { return HP_TcpClient_GetSocketBufferSize(m_h); }                                                                \
    DWORD GetKeepAliveTime() override { return HP_TcpClient_GetKeepAliveTime(m_h); }                                                                      \
    DWORD GetKeepAliveInterval() override { return HP_TcpClient_GetKeepAliveInterval(m_h); }                                                               \
    BOOL SetupSSLContext(int m = SSL_VM_NONE, LPCTSTR c = nullptr, LPCTSTR k = nullptr, LPCTSTR p = nullptr, LPCTSTR ca = nullptr) override { return HP_SSLClient_SetupSSLContext(m_h, m, c, k, p, ca); } \
    BOOL SetupSSLContextByMemory(int m = SSL_VM_NONE, LPCSTR c = nullptr, LPCSTR k = nullptr, LPCSTR p = nullptr, LPCSTR ca = nullptr) override { return HP_SSLClient_SetupSSLContextByMemory(m_h, m, c, k, p, ca); } \
    void CleanupSSLContext() override { HP_SSLClient_CleanupSSLContext(m_h); }                                                                             \
    BOOL StartSSLHandShake() override { return HP_SSLClient_StartSSLHandShake(m_h); }                                                                      \
    void SetSSLAutoHandShake(BOOL b) override { HP_SSLClient_SetSSLAutoHandShake(m_h, b); }                                                                \
    BOOL IsSSLAutoHandShake() override { return HP_SSLClient_IsSSLAutoHandShake(m_h); }                                                                    \
    void SetSSLCipherList(LPCTSTR l) override { HP_SSLClient_SetSSLCipherList(m_h, l); }                                                                   \
    LPCTSTR GetSSLCipherList() override { return HP_SSLClient_GetSSLCipherList(m_h); }                                                                     \
    BOOL GetSSLSessionInfo(EnSSLSessionInfo e, LPVOID* p) override { return HP_SSLClient_GetSSLSessionInfo(m_h, e, p); }

/* ITcpServer (and its Pull / Pack faces) over an HP_TcpServer handle. */
template <class Face, Model M>
class TcpServerT : public Face
{
public:
    explicit TcpServerT(ITcpServerListener* pListener, bool ssl = false) : m_l(pListener), m_ssl(ssl)
    {
        typedef Trampolines<TcpServerT, ITcpServer, ITcpServerListener> T;
        m_lc = Create_HP_TcpServerListener();
        HP_Set_FN_Server_OnPrepareListen(m_lc, T::PrepareListen);
        HP_Set_FN_Server_OnAccept(m_lc, T::Accept);
        HP_Set_FN_Server_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Server_OnSend(m_lc, T::Send);
        HP_Set_FN_Server_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Server_OnPullReceive(m_lc, T::PullReceive);
        HP_Set_FN_Server_OnClose(m_lc, T::Close);
        HP_Set_FN_Server_OnShutdown(m_lc, T::Shutdown);
        if (ssl)
            m_h = M == Model::Pull ? Create_HP_SSLPullServer(m_lc) : M == Model::Pack ? Create_HP_SSLPackServer(m_lc) : Create_HP_SSLServer(m_lc);
        else
            m_h = M == Model::Pull ? Create_HP_TcpPullServer(m_lc) : M == Model::Pack ? Create_HP_TcpPackServer(m_lc) : Create_HP_TcpServer(m_lc);
        Registry::get().add(m_h, this);
    }
    /* Stops and frees the C component (once). Called by the final class's destructor while
     * the object is still whole, so no callback meets a half-destroyed object. */
    void Release()
    {
        if (!m_h)
            return;
        HP_Server_Stop(m_h);
        HP_Server_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        if (m_ssl)
            Destroy_HP_SSLServer(m_h);
        else
            Destroy_HP_TcpServer(m_h);
        Destroy_HP_TcpServerListener(m_lc);
        m_h = nullptr;
    }
    virtual ~TcpServerT() { Release(); }
    SHARDNET_HP_COMPLEX(Server)
    SHARDNET_HP_TCP_SERVER

    ITcpServerListener* m_l;

protected:
    bool m_ssl;
    HP_TcpServerListener m_lc;
    HP_TcpServer m_h;
};

/* ITcpAgent (and its Pull / Pack faces) over an HP_TcpAgent handle. */
template <class Face, Model M>
class TcpAgentT : public Face
{
public:
    explicit TcpAgentT(ITcpAgentListener* pListener, bool ssl = false) : m_l(pListener), m_ssl(ssl)
    {
        typedef Trampolines<TcpAgentT, ITcpAgent, ITcpAgentListener> T;
        m_lc = Create_HP_TcpAgentListener();
        HP_Set_FN_Agent_OnPrepareConnect(m_lc, T::PrepareConnect);
        HP_Set_FN_Agent_OnConnect(m_lc, T::Connect);
        HP_Set_FN_Agent_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Agent_OnSend(m_lc, T::Send);
        HP_Set_FN_Agent_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Agent_OnPullReceive(m_lc, T::PullReceive);
        HP_Set_FN_Agent_OnClose(m_lc, T::Close);
        HP_Set_FN_Agent_OnShutdown(m_lc, T::Shutdown);
        if (ssl)
            m_h = M == Model::Pull ? Create_HP_SSLPullAgent(m_lc) : M == Model::Pack ? Create_HP_SSLPackAgent(m_lc) : Create_HP_SSLAgent(m_lc);
        else
            m_h = M == Model::Pull ? Create_HP_TcpPullAgent(m_lc) : M == Model::Pack ? Create_HP_TcpPackAgent(m_lc) : Create_HP_TcpAgent(m_lc);
        Registry::get().add(m_h, this);
    }
    void Release()
    {
        if (!m_h)
            return;
        HP_Agent_Stop(m_h);
        HP_Agent_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        if (m_ssl)
            Destroy_HP_SSLAgent(m_h);
        else
            Destroy_HP_TcpAgent(m_h);
        Destroy_HP_TcpAgentListener(m_lc);
        m_h = nullptr;
    }
    virtual ~TcpAgentT() { Release(); }
    SHARDNET_HP_COMPLEX(Agent)
    SHARDNET_HP_TCP_AGENT

    ITcpAgentListener* m_l;

protected:
    bool m_ssl;
    HP_TcpAgentListener m_lc;
    HP_TcpAgent m_h;
};

/* ITcpClient (and its Pull / Pack faces) over an HP_TcpClient handle. */
template <class Face, Model M>
class TcpClientT : public Face
{
public:
    explicit TcpClientT(ITcpClientListener* pListener, bool ssl = false) : m_l(pListener), m_ssl(ssl)
    {
        typedef Trampolines<TcpClientT, ITcpClient, ITcpClientListener> T;
        m_lc = Create_HP_TcpClientListener();
        HP_Set_FN_Client_OnPrepareConnect(m_lc, T::PrepareConnect);
        HP_Set_FN_Client_OnConnect(m_lc, T::Connect);
        HP_Set_FN_Client_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Client_OnSend(m_lc, T::Send);
        HP_Set_FN_Client_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Client_OnPullReceive(m_lc, T::PullReceive);
        HP_Set_FN_Client_OnClose(m_lc, T::Close);
        if (ssl)
            m_h = M == Model::Pull ? Create_HP_SSLPullClient(m_lc) : M == Model::Pack ? Create_HP_SSLPackClient(m_lc) : Create_HP_SSLClient(m_lc);
        else
            m_h = M == Model::Pull ? Create_HP_TcpPullClient(m_lc) : M == Model::Pack ? Create_HP_TcpPackClient(m_lc) : Create_HP_TcpClient(m_lc);
        Registry::get().add(m_h, this);
    }
    void Release()
    {
        if (!m_h)
            return;
        HP_Client_Stop(m_h);
        HP_Client_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        if (m_ssl)
            Destroy_HP_SSLClient(m_h);
        else
            Destroy_HP_TcpClient(m_h);
        Destroy_HP_TcpClientListener(m_lc);
        m_h = nullptr;
    }
    virtual ~TcpClientT() { Release(); }
    SHARDNET_HP_CLIENT
    SHARDNET_HP_TCP_CLIENT

    ITcpClientListener* m_l;

protected:
    bool m_ssl;
    HP_TcpClientListener m_lc;
    HP_TcpClient m_h;
};

class TcpClient final : public TcpClientT<ITcpClient, Model::Push>
{
public:
    using TcpClientT::TcpClientT;
    ~TcpClient() override { this->Release(); }
};

class TcpPullClient final : public TcpClientT<ITcpPullClient, Model::Pull>
{
public:
    using TcpClientT::TcpClientT;
    ~TcpPullClient() override { this->Release(); }
    EnFetchResult Fetch(BYTE* d, int n) override { return HP_TcpPullClient_Fetch(m_h, d, n); }
    EnFetchResult Peek(BYTE* d, int n) override { return HP_TcpPullClient_Peek(m_h, d, n); }
};

class TcpPackClient final : public TcpClientT<ITcpPackClient, Model::Pack>
{
public:
    using TcpClientT::TcpClientT;
    ~TcpPackClient() override { this->Release(); }
    void SetMaxPackSize(DWORD v) override { HP_TcpPackClient_SetMaxPackSize(m_h, v); }
    void SetPackHeaderFlag(USHORT v) override { HP_TcpPackClient_SetPackHeaderFlag(m_h, v); }
    DWORD GetMaxPackSize() override { return HP_TcpPackClient_GetMaxPackSize(m_h); }
    USHORT GetPackHeaderFlag() override { return HP_TcpPackClient_GetPackHeaderFlag(m_h); }
};

class TcpServer final : public TcpServerT<ITcpServer, Model::Push>
{
public:
    using TcpServerT::TcpServerT;
    ~TcpServer() override { this->Release(); }
};

class TcpPullServer final : public TcpServerT<ITcpPullServer, Model::Pull>
{
public:
    using TcpServerT::TcpServerT;
    ~TcpPullServer() override { this->Release(); }
    EnFetchResult Fetch(CONNID c, BYTE* d, int n) override { return HP_TcpPullServer_Fetch(m_h, c, d, n); }
    EnFetchResult Peek(CONNID c, BYTE* d, int n) override { return HP_TcpPullServer_Peek(m_h, c, d, n); }
};

class TcpPackServer final : public TcpServerT<ITcpPackServer, Model::Pack>
{
public:
    using TcpServerT::TcpServerT;
    ~TcpPackServer() override { this->Release(); }
    void SetMaxPackSize(DWORD v) override { HP_TcpPackServer_SetMaxPackSize(m_h, v); }
    void SetPackHeaderFlag(USHORT v) override { HP_TcpPackServer_SetPackHeaderFlag(m_h, v); }
    DWORD GetMaxPackSize() override { return HP_TcpPackServer_GetMaxPackSize(m_h); }
    USHORT GetPackHeaderFlag() override { return HP_TcpPackServer_GetPackHeaderFlag(m_h); }
};

class TcpAgent final : public TcpAgentT<ITcpAgent, Model::Push>
{
public:
    using TcpAgentT::TcpAgentT;
    ~TcpAgent() override { this->Release(); }
};

class TcpPullAgent final : public TcpAgentT<ITcpPullAgent, Model::Pull>
{
public:
    using TcpAgentT::TcpAgentT;
    ~TcpPullAgent() override { this->Release(); }
    EnFetchResult Fetch(CONNID c, BYTE* d, int n) override { return HP_TcpPullAgent_Fetch(m_h, c, d, n); }
    EnFetchResult Peek(CONNID c, BYTE* d, int n) override { return HP_TcpPullAgent_Peek(m_h, c, d, n); }
};

class TcpPackAgent final : public TcpAgentT<ITcpPackAgent, Model::Pack>
{
public:
    using TcpAgentT::TcpAgentT;
    ~TcpPackAgent() override { this->Release(); }
    void SetMaxPackSize(DWORD v) override { HP_TcpPackAgent_SetMaxPackSize(m_h, v); }
    void SetPackHeaderFlag(USHORT v) override { HP_TcpPackAgent_SetPackHeaderFlag(m_h, v); }
    DWORD GetMaxPackSize() override { return HP_TcpPackAgent_GetMaxPackSize(m_h); }
    USHORT GetPackHeaderFlag() override { return HP_TcpPackAgent_GetPackHeaderFlag(m_h); }
};

/* ARQ settings over the C functions of prefix P (UdpArqServer / UdpArqClient). */
#define SHARDNET_HP_ARQ(P)                                                                       \
    void SetNoDelay(BOOL v) override { HP_##P##_SetNoDelay(m_h, v); }                            \
    void SetTurnoffCongestCtrl(BOOL v) override { HP_##P##_SetTurnoffCongestCtrl(m_h, v); }      \
    void SetFlushInterval(DWORD v) override { HP_##P##_SetFlushInterval(m_h, v); }               \
    void SetResendByAcks(DWORD v) override { HP_##P##_SetResendByAcks(m_h, v); }                 \
    void SetSendWndSize(DWORD v) override { HP_##P##_SetSendWndSize(m_h, v); }                   \
    void SetRecvWndSize(DWORD v) override { HP_##P##_SetRecvWndSize(m_h, v); }                   \
    void SetMinRto(DWORD v) override { HP_##P##_SetMinRto(m_h, v); }                             \
    void SetFastLimit(DWORD v) override { HP_##P##_SetFastLimit(m_h, v); }                       \
    void SetMaxTransUnit(DWORD v) override { HP_##P##_SetMaxTransUnit(m_h, v); }                 \
    void SetMaxMessageSize(DWORD v) override { HP_##P##_SetMaxMessageSize(m_h, v); }             \
    void SetHandShakeTimeout(DWORD v) override { HP_##P##_SetHandShakeTimeout(m_h, v); }         \
    BOOL IsNoDelay() override { return HP_##P##_IsNoDelay(m_h); }                                \
    BOOL IsTurnoffCongestCtrl() override { return HP_##P##_IsTurnoffCongestCtrl(m_h); }          \
    DWORD GetFlushInterval() override { return HP_##P##_GetFlushInterval(m_h); }                 \
    DWORD GetResendByAcks() override { return HP_##P##_GetResendByAcks(m_h); }                   \
    DWORD GetSendWndSize() override { return HP_##P##_GetSendWndSize(m_h); }                    \
    DWORD GetRecvWndSize() override { return HP_##P##_GetRecvWndSize(m_h); }                    \
    DWORD GetMinRto() override { return HP_##P##_GetMinRto(m_h); }                               \
    DWORD GetFastLimit() override { return HP_##P##_GetFastLimit(m_h); }                         \
    DWORD GetMaxTransUnit() override { return HP_##P##_GetMaxTransUnit(m_h); }                   \
    DWORD GetMaxMessageSize() override { return HP_##P##_GetMaxMessageSize(m_h); }               \
    DWORD GetHandShakeTimeout() override { return HP_##P##_GetHandShakeTimeout(m_h); }

/* IUdpServer (and, with ARQ, IUdpArqServer) over an HP_UdpServer / HP_UdpArqServer handle. */
template <class Face, bool Arq>
class UdpServerT : public Face
{
public:
    explicit UdpServerT(IUdpServerListener* pListener) : m_l(pListener)
    {
        typedef Trampolines<UdpServerT, IUdpServer, IUdpServerListener> T;
        m_lc = Arq ? Create_HP_UdpArqServerListener() : Create_HP_UdpServerListener();
        HP_Set_FN_Server_OnPrepareListen(m_lc, T::PrepareListen);
        HP_Set_FN_Server_OnAccept(m_lc, T::Accept);
        HP_Set_FN_Server_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Server_OnSend(m_lc, T::Send);
        HP_Set_FN_Server_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Server_OnClose(m_lc, T::Close);
        HP_Set_FN_Server_OnShutdown(m_lc, T::Shutdown);
        m_h = Arq ? Create_HP_UdpArqServer(m_lc) : Create_HP_UdpServer(m_lc);
        Registry::get().add(m_h, this);
    }
    void Release()
    {
        if (!m_h)
            return;
        HP_Server_Stop(m_h);
        HP_Server_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        if (Arq) {
            Destroy_HP_UdpArqServer(m_h);
            Destroy_HP_UdpArqServerListener(m_lc);
        } else {
            Destroy_HP_UdpServer(m_h);
            Destroy_HP_UdpServerListener(m_lc);
        }
        m_h = nullptr;
    }
    virtual ~UdpServerT() { Release(); }
    SHARDNET_HP_COMPLEX(Server)
    BOOL Start(LPCTSTR a, USHORT p) override { return HP_Server_Start(m_h, a, p); }
    BOOL GetListenAddress(TCHAR a[], int& n, USHORT& p) override { return HP_Server_GetListenAddress(m_h, a, &n, &p); }
    void SetMaxDatagramSize(DWORD v) override { HP_UdpServer_SetMaxDatagramSize(m_h, v); }
    DWORD GetMaxDatagramSize() override { return HP_UdpServer_GetMaxDatagramSize(m_h); }
    void SetPostReceiveCount(DWORD v) override { HP_UdpServer_SetPostReceiveCount(m_h, v); }
    DWORD GetPostReceiveCount() override { return HP_UdpServer_GetPostReceiveCount(m_h); }
    void SetDetectAttempts(DWORD v) override { HP_UdpServer_SetDetectAttempts(m_h, v); }
    void SetDetectInterval(DWORD v) override { HP_UdpServer_SetDetectInterval(m_h, v); }
    DWORD GetDetectAttempts() override { return HP_UdpServer_GetDetectAttempts(m_h); }
    DWORD GetDetectInterval() override { return HP_UdpServer_GetDetectInterval(m_h); }

    IUdpServerListener* m_l;

protected:
    HP_UdpServerListener m_lc;
    HP_UdpServer m_h;
};

class UdpServer final : public UdpServerT<IUdpServer, false>
{
public:
    using UdpServerT::UdpServerT;
    ~UdpServer() override { this->Release(); }
};

class UdpArqServer final : public UdpServerT<IUdpArqServer, true>
{
public:
    using UdpServerT::UdpServerT;
    ~UdpArqServer() override { this->Release(); }
    SHARDNET_HP_ARQ(UdpArqServer)
    BOOL GetWaitingSendMessageCount(CONNID c, int& n) override { return HP_UdpArqServer_GetWaitingSendMessageCount(m_h, c, &n); }
};

/* IUdpClient (and, with ARQ, IUdpArqClient) over an HP_UdpClient / HP_UdpArqClient handle. */
template <class Face, bool Arq>
class UdpClientT : public Face
{
public:
    explicit UdpClientT(IUdpClientListener* pListener) : m_l(pListener)
    {
        typedef Trampolines<UdpClientT, IUdpClient, IUdpClientListener> T;
        m_lc = Arq ? Create_HP_UdpArqClientListener() : Create_HP_UdpClientListener();
        HP_Set_FN_Client_OnConnect(m_lc, T::Connect);
        HP_Set_FN_Client_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Client_OnSend(m_lc, T::Send);
        HP_Set_FN_Client_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Client_OnClose(m_lc, T::Close);
        m_h = Arq ? Create_HP_UdpArqClient(m_lc) : Create_HP_UdpClient(m_lc);
        Registry::get().add(m_h, this);
    }
    void Release()
    {
        if (!m_h)
            return;
        HP_Client_Stop(m_h);
        HP_Client_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        if (Arq) {
            Destroy_HP_UdpArqClient(m_h);
            Destroy_HP_UdpArqClientListener(m_lc);
        } else {
            Destroy_HP_UdpClient(m_h);
            Destroy_HP_UdpClientListener(m_lc);
        }
        m_h = nullptr;
    }
    virtual ~UdpClientT() { Release(); }
    SHARDNET_HP_CLIENT
    void SetMaxDatagramSize(DWORD v) override { HP_UdpClient_SetMaxDatagramSize(m_h, v); }
    DWORD GetMaxDatagramSize() override { return HP_UdpClient_GetMaxDatagramSize(m_h); }
    void SetDetectAttempts(DWORD v) override { HP_UdpClient_SetDetectAttempts(m_h, v); }
    void SetDetectInterval(DWORD v) override { HP_UdpClient_SetDetectInterval(m_h, v); }
    DWORD GetDetectAttempts() override { return HP_UdpClient_GetDetectAttempts(m_h); }
    DWORD GetDetectInterval() override { return HP_UdpClient_GetDetectInterval(m_h); }

    IUdpClientListener* m_l;

protected:
    HP_UdpClientListener m_lc;
    HP_UdpClient m_h;
};

class UdpClient final : public UdpClientT<IUdpClient, false>
{
public:
    using UdpClientT::UdpClientT;
    ~UdpClient() override { this->Release(); }
};

class UdpArqClient final : public UdpClientT<IUdpArqClient, true>
{
public:
    using UdpClientT::UdpClientT;
    ~UdpArqClient() override { this->Release(); }
    SHARDNET_HP_ARQ(UdpArqClient)
    BOOL GetWaitingSendMessageCount(int& n) override { return HP_UdpArqClient_GetWaitingSendMessageCount(m_h, &n); }
};
#undef SHARDNET_HP_ARQ

/* IUdpCast over an HP_UdpCast handle (a client handle). */
class UdpCast final : public IUdpCast
{
public:
    explicit UdpCast(IUdpCastListener* pListener) : m_l(pListener)
    {
        typedef Trampolines<UdpCast, IUdpCast, IUdpCastListener> T;
        m_lc = Create_HP_UdpCastListener();
        HP_Set_FN_Client_OnPrepareConnect(m_lc, T::PrepareConnect);
        HP_Set_FN_Client_OnConnect(m_lc, T::Connect);
        HP_Set_FN_Client_OnHandShake(m_lc, T::HandShake);
        HP_Set_FN_Client_OnSend(m_lc, T::Send);
        HP_Set_FN_Client_OnReceive(m_lc, T::Receive);
        HP_Set_FN_Client_OnClose(m_lc, T::Close);
        m_h = Create_HP_UdpCast(m_lc);
        Registry::get().add(m_h, this);
    }
    ~UdpCast() override
    {
        HP_Client_Stop(m_h);
        HP_Client_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        Destroy_HP_UdpCast(m_h);
        Destroy_HP_UdpCastListener(m_lc);
    }
    SHARDNET_HP_CLIENT
    void SetMaxDatagramSize(DWORD v) override { HP_UdpCast_SetMaxDatagramSize(m_h, v); }
    DWORD GetMaxDatagramSize() override { return HP_UdpCast_GetMaxDatagramSize(m_h); }
    void SetCastMode(EnCastMode v) override { HP_UdpCast_SetCastMode(m_h, v); }
    EnCastMode GetCastMode() override { return HP_UdpCast_GetCastMode(m_h); }
    void SetMultiCastTtl(int v) override { HP_UdpCast_SetMultiCastTtl(m_h, v); }
    int GetMultiCastTtl() override { return HP_UdpCast_GetMultiCastTtl(m_h); }
    void SetMultiCastLoop(BOOL v) override { HP_UdpCast_SetMultiCastLoop(m_h, v); }
    BOOL IsMultiCastLoop() override { return HP_UdpCast_IsMultiCastLoop(m_h); }
    BOOL GetRemoteAddress(TCHAR a[], int& n, USHORT& p) override { return HP_UdpCast_GetRemoteAddress(m_h, a, &n, &p); }

    IUdpCastListener* m_l;

private:
    HP_UdpCastListener m_lc;
    HP_UdpCast m_h;
};

/* IUdpNode over an HP_UdpNode handle, with callbacks of its own (no connections). */
class UdpNode final : public IUdpNode
{
public:
    explicit UdpNode(IUdpNodeListener* pListener) : m_l(pListener)
    {
        m_lc = Create_HP_UdpNodeListener();
        HP_Set_FN_UdpNode_OnPrepareListen(m_lc, PrepareListenCb);
        HP_Set_FN_UdpNode_OnSend(m_lc, SendCb);
        HP_Set_FN_UdpNode_OnReceive(m_lc, ReceiveCb);
        HP_Set_FN_UdpNode_OnError(m_lc, ErrorCb);
        HP_Set_FN_UdpNode_OnShutdown(m_lc, ShutdownCb);
        m_h = Create_HP_UdpNode(m_lc);
        Registry::get().add(m_h, this);
    }
    ~UdpNode() override
    {
        HP_UdpNode_Stop(m_h);
        HP_UdpNode_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        Destroy_HP_UdpNode(m_h);
        Destroy_HP_UdpNodeListener(m_lc);
    }
    BOOL Start(LPCTSTR a = nullptr, USHORT p = 0, EnCastMode m = CM_UNICAST, LPCTSTR c = nullptr) override
    {
        return m == CM_UNICAST && c == nullptr ? HP_UdpNode_Start(m_h, a, p) : HP_UdpNode_StartWithCast(m_h, a, p, m, c);
    }
    BOOL Stop() override { return HP_UdpNode_Stop(m_h); }
    BOOL Send(LPCTSTR a, USHORT p, const BYTE* b, int n, int off = 0) override { return HP_UdpNode_SendPart(m_h, a, p, b, n, off); }
    BOOL SendPackets(LPCTSTR a, USHORT p, const WSABUF bufs[], int n) override { return HP_UdpNode_SendPackets(m_h, a, p, bufs, n); }
    BOOL SendCast(const BYTE* b, int n, int off = 0) override { return HP_UdpNode_SendCastPart(m_h, b, n, off); }
    BOOL SendCastPackets(const WSABUF bufs[], int n) override { return HP_UdpNode_SendCastPackets(m_h, bufs, n); }
    BOOL Wait(DWORD ms = INFINITE) override { return HP_UdpNode_Wait(m_h, ms); }
    void SetExtra(PVOID x) override { HP_UdpNode_SetExtra(m_h, x); }
    PVOID GetExtra() override { return HP_UdpNode_GetExtra(m_h); }
    BOOL HasStarted() override { return HP_UdpNode_HasStarted(m_h); }
    EnServiceState GetState() override { return HP_UdpNode_GetState(m_h); }
    EnSocketError GetLastError() override { return HP_UdpNode_GetLastError(m_h); }
    LPCTSTR GetLastErrorDesc() override { return HP_UdpNode_GetLastErrorDesc(m_h); }
    BOOL GetLocalAddress(TCHAR a[], int& n, USHORT& p) override { return HP_UdpNode_GetLocalAddress(m_h, a, &n, &p); }
    BOOL GetCastAddress(TCHAR a[], int& n, USHORT& p) override { return HP_UdpNode_GetCastAddress(m_h, a, &n, &p); }
    EnCastMode GetCastMode() override { return HP_UdpNode_GetCastMode(m_h); }
    BOOL GetPendingDataLength(int& n) override { return HP_UdpNode_GetPendingDataLength(m_h, &n); }
    void SetMaxDatagramSize(DWORD v) override { HP_UdpNode_SetMaxDatagramSize(m_h, v); }
    DWORD GetMaxDatagramSize() override { return HP_UdpNode_GetMaxDatagramSize(m_h); }
    void SetMultiCastTtl(int v) override { HP_UdpNode_SetMultiCastTtl(m_h, v); }
    int GetMultiCastTtl() override { return HP_UdpNode_GetMultiCastTtl(m_h); }
    void SetMultiCastLoop(BOOL v) override { HP_UdpNode_SetMultiCastLoop(m_h, v); }
    BOOL IsMultiCastLoop() override { return HP_UdpNode_IsMultiCastLoop(m_h); }
    void SetReuseAddressPolicy(EnReuseAddressPolicy v) override { HP_UdpNode_SetReuseAddressPolicy(m_h, v); }
    void SetWorkerThreadCount(DWORD v) override { HP_UdpNode_SetWorkerThreadCount(m_h, v); }
    void SetPostReceiveCount(DWORD v) override { HP_UdpNode_SetPostReceiveCount(m_h, v); }
    void SetFreeBufferPoolSize(DWORD v) override { HP_UdpNode_SetFreeBufferPoolSize(m_h, v); }
    void SetFreeBufferPoolHold(DWORD v) override { HP_UdpNode_SetFreeBufferPoolHold(m_h, v); }
    EnReuseAddressPolicy GetReuseAddressPolicy() override { return HP_UdpNode_GetReuseAddressPolicy(m_h); }
    DWORD GetWorkerThreadCount() override { return HP_UdpNode_GetWorkerThreadCount(m_h); }
    DWORD GetPostReceiveCount() override { return HP_UdpNode_GetPostReceiveCount(m_h); }
    DWORD GetFreeBufferPoolSize() override { return HP_UdpNode_GetFreeBufferPoolSize(m_h); }
    DWORD GetFreeBufferPoolHold() override { return HP_UdpNode_GetFreeBufferPoolHold(m_h); }

private:
    static UdpNode* of(void* h) { return static_cast<UdpNode*>(Registry::get().find(h)); }
    static En_HP_HandleResult __HP_CALL PrepareListenCb(void* h, UINT_PTR s)
    {
        UdpNode* o = of(h);
        return o ? o->m_l->OnPrepareListen(o, (SOCKET)s) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL SendCb(void* h, LPCTSTR a, USHORT p, const BYTE* d, int n)
    {
        UdpNode* o = of(h);
        return o ? o->m_l->OnSend(o, a, p, d, n) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL ReceiveCb(void* h, LPCTSTR a, USHORT p, const BYTE* d, int n)
    {
        UdpNode* o = of(h);
        return o ? o->m_l->OnReceive(o, a, p, d, n) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL ErrorCb(void* h, En_HP_SocketOperation op, int e, LPCTSTR a, USHORT p, const BYTE* d, int n)
    {
        UdpNode* o = of(h);
        return o ? o->m_l->OnError(o, op, e, a, p, d, n) : HR_IGNORE;
    }
    static En_HP_HandleResult __HP_CALL ShutdownCb(void* h)
    {
        UdpNode* o = of(h);
        return o ? o->m_l->OnShutdown(o) : HR_IGNORE;
    }
    IUdpNodeListener* m_l;
    HP_UdpNodeListener m_lc;
    HP_UdpNode m_h;
};

/* ---- HTTP ---- */

/* The C HTTP callbacks of component type C, whose HTTP face is H. */
template <class C, class H>
struct HttpTrampolines {
    static C* of(void* h) { return static_cast<C*>(Registry::get().find(h)); }
#define SHARDNET_HP_HTTP_CB(NAME, R, DEF, PARAMS, ...)                       \
    static R __HP_CALL NAME PARAMS                                           \
    {                                                                        \
        C* o = of(h);                                                        \
        return o ? o->m_l->On##NAME(static_cast<H*>(o), __VA_ARGS__) : DEF; \
    }
    SHARDNET_HP_HTTP_CB(MessageBegin, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c), c)
    SHARDNET_HP_HTTP_CB(RequestLine, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c, LPCSTR m, LPCSTR u), c, m, u)
    SHARDNET_HP_HTTP_CB(StatusLine, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c, USHORT s, LPCSTR d), c, s, d)
    SHARDNET_HP_HTTP_CB(Header, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c, LPCSTR n, LPCSTR v), c, n, v)
    SHARDNET_HP_HTTP_CB(HeadersComplete, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c), c)
    SHARDNET_HP_HTTP_CB(Body, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c, const BYTE* d, int n), c, d, n)
    SHARDNET_HP_HTTP_CB(ChunkHeader, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c, int n), c, n)
    SHARDNET_HP_HTTP_CB(ChunkComplete, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c), c)
    SHARDNET_HP_HTTP_CB(MessageComplete, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c), c)
    SHARDNET_HP_HTTP_CB(Upgrade, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c, En_HP_HttpUpgradeType t), c, t)
    SHARDNET_HP_HTTP_CB(ParseError, En_HP_HttpParseResult, HPR_OK, (void* h, HP_CONNID c, int e, LPCSTR d), c, e, d)
    SHARDNET_HP_HTTP_CB(WSMessageHeader, En_HP_HandleResult, HR_IGNORE,
                        (void* h, HP_CONNID c, BOOL f, BYTE r, BYTE op, const BYTE m[4], ULONGLONG n), c, f, r, op, m, n)
    SHARDNET_HP_HTTP_CB(WSMessageBody, En_HP_HandleResult, HR_IGNORE, (void* h, HP_CONNID c, const BYTE* d, int n), c, d, n)
    SHARDNET_HP_HTTP_CB(WSMessageComplete, En_HP_HandleResult, HR_IGNORE, (void* h, HP_CONNID c), c)
#undef SHARDNET_HP_HTTP_CB
};

/* Installs the HTTP callbacks common to every HTTP listener `m_lc` of family P. */
#define SHARDNET_HP_SET_HTTP_FNS(P, T)                                  \
    HP_Set_FN_##P##_OnMessageBegin(m_lc, T::MessageBegin);              \
    HP_Set_FN_##P##_OnHeader(m_lc, T::Header);                          \
    HP_Set_FN_##P##_OnHeadersComplete(m_lc, T::HeadersComplete);        \
    HP_Set_FN_##P##_OnBody(m_lc, T::Body);                              \
    HP_Set_FN_##P##_OnChunkHeader(m_lc, T::ChunkHeader);                \
    HP_Set_FN_##P##_OnChunkComplete(m_lc, T::ChunkComplete);            \
    HP_Set_FN_##P##_OnMessageComplete(m_lc, T::MessageComplete);        \
    HP_Set_FN_##P##_OnUpgrade(m_lc, T::Upgrade);                        \
    HP_Set_FN_##P##_OnParseError(m_lc, T::ParseError);                  \
    HP_Set_FN_##P##_OnWSMessageHeader(m_lc, T::WSMessageHeader);        \
    HP_Set_FN_##P##_OnWSMessageBody(m_lc, T::WSMessageBody);            \
    HP_Set_FN_##P##_OnWSMessageComplete(m_lc, T::WSMessageComplete);    \
    HP_Set_FN_##P##_OnHandShake(m_lc, S::HandShake);                    \
    HP_Set_FN_##P##_OnSend(m_lc, S::Send);                              \
    HP_Set_FN_##P##_OnReceive(m_lc, S::Receive);                        \
    HP_Set_FN_##P##_OnClose(m_lc, S::Close);

/* IComplexHttp (A.. = the SHARDNET_HP_CID_* below) or IHttp (empty) over HP_<P>_*. */
#define SHARDNET_HP_HTTP_COMMON(P, A, A0, C, C0)                                                                            \
    BOOL StartHttp(A0) override { return HP_##P##_StartHttp(m_h C0); }                                        \
    BOOL SendChunkData(A const BYTE* d = nullptr, int n = 0, LPCSTR x = nullptr) override { return HP_##P##_SendChunkData(m_h, C d, n, x); } \
    void SetLocalVersion(EnHttpVersion v) override { HP_##P##_SetLocalVersion(m_h, v); }                            \
    EnHttpVersion GetLocalVersion() override { return HP_##P##_GetLocalVersion(m_h); }                              \
    BOOL IsUpgrade(A0) override { return HP_##P##_IsUpgrade(m_h C0); }                                        \
    BOOL IsKeepAlive(A0) override { return HP_##P##_IsKeepAlive(m_h C0); }                                    \
    USHORT GetVersion(A0) override { return HP_##P##_GetVersion(m_h C0); }                                    \
    ULONGLONG GetContentLength(A0) override { return HP_##P##_GetContentLength(m_h C0); }                     \
    LPCSTR GetContentType(A0) override { return HP_##P##_GetContentType(m_h C0); }                            \
    LPCSTR GetContentEncoding(A0) override { return HP_##P##_GetContentEncoding(m_h C0); }                    \
    LPCSTR GetTransferEncoding(A0) override { return HP_##P##_GetTransferEncoding(m_h C0); }                  \
    EnHttpUpgradeType GetUpgradeType(A0) override { return HP_##P##_GetUpgradeType(m_h C0); }                 \
    USHORT GetParseErrorCode(A LPCSTR* d = nullptr) override { return HP_##P##_GetParseErrorCode(m_h, C d); }       \
    BOOL GetHeader(A LPCSTR n, LPCSTR* v) override { return HP_##P##_GetHeader(m_h, C n, v); }                      \
    BOOL GetHeaders(A LPCSTR n, LPCSTR v[], DWORD& k) override { return HP_##P##_GetHeaders(m_h, C n, v, &k); }     \
    BOOL GetAllHeaders(A THeader h[], DWORD& k) override { return HP_##P##_GetAllHeaders(m_h, C h, &k); }           \
    BOOL GetAllHeaderNames(A LPCSTR n[], DWORD& k) override { return HP_##P##_GetAllHeaderNames(m_h, C n, &k); }    \
    BOOL GetCookie(A LPCSTR n, LPCSTR* v) override { return HP_##P##_GetCookie(m_h, C n, v); }                      \
    BOOL GetAllCookies(A TCookie k[], DWORD& n) override { return HP_##P##_GetAllCookies(m_h, C k, &n); }           \
    BOOL GetWSMessageState(A BOOL* f, BYTE* r, BYTE* o, LPCBYTE* m, ULONGLONG* l, ULONGLONG* x) override            \
    {                                                                                                               \
        return HP_##P##_GetWSMessageState(m_h, C f, r, o, m, l, x);                                                 \
    }                                                                                                               \
    void SetHttpAutoStart(BOOL b) override { HP_##P##_SetHttpAutoStart(m_h, b); }                                   \
    BOOL IsHttpAutoStart() override { return HP_##P##_IsHttpAutoStart(m_h); }

/* The requests of IComplexHttpRequester / IHttpRequester, as SHARDNET_HP_HTTP_COMMON. */
#define SHARDNET_HP_HTTP_REQUESTS(P, A, A0, C, C0)                                                                          \
    BOOL SendWSMessage(A BOOL f, BYTE r, BYTE op, const BYTE m[4], const BYTE* d = nullptr, int n = 0, ULONGLONG l = 0) override \
    {                                                                                                               \
        return HP_##P##_SendWSMessage(m_h, C f, r, op, m, d, n, l);                                                 \
    }                                                                                                               \
    BOOL SendRequest(A LPCSTR m, LPCSTR p, const THeader h[] = nullptr, int k = 0, const BYTE* b = nullptr, int n = 0) override \
    {                                                                                                               \
        return HP_##P##_SendRequest(m_h, C m, p, h, k, b, n);                                                       \
    }                                                                                                               \
    BOOL SendLocalFile(A LPCSTR f, LPCSTR m, LPCSTR p, const THeader h[] = nullptr, int k = 0) override             \
    {                                                                                                               \
        return HP_##P##_SendLocalFile(m_h, C f, m, p, h, k);                                                        \
    }                                                                                                               \
    BOOL SendPost(A LPCSTR p, const THeader h[], int k, const BYTE* b, int n) override { return HP_##P##_SendPost(m_h, C p, h, k, b, n); } \
    BOOL SendPut(A LPCSTR p, const THeader h[], int k, const BYTE* b, int n) override { return HP_##P##_SendPut(m_h, C p, h, k, b, n); }   \
    BOOL SendPatch(A LPCSTR p, const THeader h[], int k, const BYTE* b, int n) override { return HP_##P##_SendPatch(m_h, C p, h, k, b, n); } \
    BOOL SendGet(A LPCSTR p, const THeader h[] = nullptr, int k = 0) override { return HP_##P##_SendGet(m_h, C p, h, k); }               \
    BOOL SendDelete(A LPCSTR p, const THeader h[] = nullptr, int k = 0) override { return HP_##P##_SendDelete(m_h, C p, h, k); }         \
    BOOL SendHead(A LPCSTR p, const THeader h[] = nullptr, int k = 0) override { return HP_##P##_SendHead(m_h, C p, h, k); }             \
    BOOL SendTrace(A LPCSTR p, const THeader h[] = nullptr, int k = 0) override { return HP_##P##_SendTrace(m_h, C p, h, k); }           \
    BOOL SendOptions(A LPCSTR p, const THeader h[] = nullptr, int k = 0) override { return HP_##P##_SendOptions(m_h, C p, h, k); }       \
    BOOL SendConnect(A LPCSTR p, const THeader h[] = nullptr, int k = 0) override { return HP_##P##_SendConnect(m_h, C p, h, k); }       \
    USHORT GetStatusCode(A0) override { return HP_##P##_GetStatusCode(m_h C0); }                              \
    void SetUseCookie(BOOL b) override { HP_##P##_SetUseCookie(m_h, b); }                                           \
    BOOL IsUseCookie() override { return HP_##P##_IsUseCookie(m_h); }

/* The connection-id parts of those lists: a parameter before others (P), alone (P0), an argument
 * before others (A) and after the handle alone (A0). */
#define SHARDNET_HP_CID_P CONNID c,
#define SHARDNET_HP_CID_P0 CONNID c
#define SHARDNET_HP_CID_A c,
#define SHARDNET_HP_CID_A0 , c

class HttpServer final : public IHttpServer
{
public:
    explicit HttpServer(IHttpServerListener* pListener, bool ssl = false) : m_l(pListener), m_ssl(ssl)
    {
        typedef HttpTrampolines<HttpServer, IHttpServer> T;
        typedef Trampolines<HttpServer, ITcpServer, IHttpServerListener> S;
        m_lc = Create_HP_HttpServerListener();
        SHARDNET_HP_SET_HTTP_FNS(HttpServer, T)
        HP_Set_FN_HttpServer_OnRequestLine(m_lc, T::RequestLine);
        HP_Set_FN_HttpServer_OnPrepareListen(m_lc, S::PrepareListen);
        HP_Set_FN_HttpServer_OnAccept(m_lc, S::Accept);
        HP_Set_FN_HttpServer_OnShutdown(m_lc, S::Shutdown);
        m_h = ssl ? Create_HP_HttpsServer(m_lc) : Create_HP_HttpServer(m_lc);
        Registry::get().add(m_h, this);
    }
    ~HttpServer() override
    {
        HP_Server_Stop(m_h);
        HP_Server_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        if (m_ssl)
            Destroy_HP_HttpsServer(m_h);
        else
            Destroy_HP_HttpServer(m_h);
        Destroy_HP_HttpServerListener(m_lc);
    }
    SHARDNET_HP_COMPLEX(Server)
    SHARDNET_HP_TCP_SERVER
    SHARDNET_HP_HTTP_COMMON(HttpServer, SHARDNET_HP_CID_P, SHARDNET_HP_CID_P0, SHARDNET_HP_CID_A, SHARDNET_HP_CID_A0)
    BOOL SendWSMessage(CONNID c, BOOL f, BYTE r, BYTE op, const BYTE* d, int n = 0, ULONGLONG l = 0) override
    {
        return HP_HttpServer_SendWSMessage(m_h, c, f, r, op, d, n, l);
    }
    BOOL SendResponse(CONNID c, USHORT s, LPCSTR d = nullptr, const THeader h[] = nullptr, int k = 0, const BYTE* b = nullptr, int n = 0) override
    {
        return HP_HttpServer_SendResponse(m_h, c, s, d, h, k, b, n);
    }
    BOOL SendLocalFile(CONNID c, LPCSTR f, USHORT s = HSC_OK, LPCSTR d = nullptr, const THeader h[] = nullptr, int k = 0) override
    {
        return HP_HttpServer_SendLocalFile(m_h, c, f, s, d, h, k);
    }
    BOOL Release(CONNID c) override { return HP_HttpServer_Release(m_h, c); }
    LPCSTR GetHost(CONNID c) override { return HP_HttpServer_GetHost(m_h, c); }
    void SetReleaseDelay(DWORD v) override { HP_HttpServer_SetReleaseDelay(m_h, v); }
    DWORD GetReleaseDelay() override { return HP_HttpServer_GetReleaseDelay(m_h); }
    USHORT GetUrlFieldSet(CONNID c) override { return HP_HttpServer_GetUrlFieldSet(m_h, c); }
    LPCSTR GetUrlField(CONNID c, EnHttpUrlField f) override { return HP_HttpServer_GetUrlField(m_h, c, f); }
    LPCSTR GetMethod(CONNID c) override { return HP_HttpServer_GetMethod(m_h, c); }

    IHttpServerListener* m_l;

private:
    bool m_ssl;
    HP_HttpServerListener m_lc;
    HP_HttpServer m_h;
};

class HttpAgent final : public IHttpAgent
{
public:
    explicit HttpAgent(IHttpAgentListener* pListener, bool ssl = false) : m_l(pListener), m_ssl(ssl)
    {
        typedef HttpTrampolines<HttpAgent, IHttpAgent> T;
        typedef Trampolines<HttpAgent, ITcpAgent, IHttpAgentListener> S;
        m_lc = Create_HP_HttpAgentListener();
        SHARDNET_HP_SET_HTTP_FNS(HttpAgent, T)
        HP_Set_FN_HttpAgent_OnStatusLine(m_lc, T::StatusLine);
        HP_Set_FN_HttpAgent_OnPrepareConnect(m_lc, S::PrepareConnect);
        HP_Set_FN_HttpAgent_OnConnect(m_lc, S::Connect);
        HP_Set_FN_HttpAgent_OnShutdown(m_lc, S::Shutdown);
        m_h = ssl ? Create_HP_HttpsAgent(m_lc) : Create_HP_HttpAgent(m_lc);
        Registry::get().add(m_h, this);
    }
    ~HttpAgent() override
    {
        HP_Agent_Stop(m_h);
        HP_Agent_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, this);
        if (m_ssl)
            Destroy_HP_HttpsAgent(m_h);
        else
            Destroy_HP_HttpAgent(m_h);
        Destroy_HP_HttpAgentListener(m_lc);
    }
    SHARDNET_HP_COMPLEX(Agent)
    SHARDNET_HP_TCP_AGENT
    SHARDNET_HP_HTTP_COMMON(HttpAgent, SHARDNET_HP_CID_P, SHARDNET_HP_CID_P0, SHARDNET_HP_CID_A, SHARDNET_HP_CID_A0)
    SHARDNET_HP_HTTP_REQUESTS(HttpAgent, SHARDNET_HP_CID_P, SHARDNET_HP_CID_P0, SHARDNET_HP_CID_A, SHARDNET_HP_CID_A0)

    IHttpAgentListener* m_l;

private:
    bool m_ssl;
    HP_HttpAgentListener m_lc;
    HP_HttpAgent m_h;
};

/* IHttpClient / IHttpSyncClient over an HP_HttpClient handle `m_h`. */
template <class Face>
class HttpClientFace : public Face
{
public:
    SHARDNET_HP_CLIENT
    SHARDNET_HP_TCP_CLIENT
    SHARDNET_HP_HTTP_COMMON(HttpClient, , , , )
    SHARDNET_HP_HTTP_REQUESTS(HttpClient, , , , )

    IHttpClientListener* m_l = nullptr;
    HP_HttpClient m_h = nullptr;

protected:
    /* Creates the listener table and the component; the callbacks reach `view`, the IHttpClient
     * face they hand out (for a sync client a view of it: HP's listener takes IHttpClient). */
    void Create(IHttpClientListener* pListener, HttpClientFace<IHttpClient>* view, bool sync, bool ssl)
    {
        static CHttpSyncClientListener quiet; /* a sync client may have no listener (HP's) */
        typedef HttpTrampolines<HttpClientFace<IHttpClient>, IHttpClient> T;
        typedef Trampolines<HttpClientFace<IHttpClient>, ITcpClient, IHttpClientListener> S;
        m_l = pListener ? pListener : &quiet;
        m_lc = Create_HP_HttpClientListener();
        SHARDNET_HP_SET_HTTP_FNS(HttpClient, T)
        HP_Set_FN_HttpClient_OnStatusLine(m_lc, T::StatusLine);
        HP_Set_FN_HttpClient_OnPrepareConnect(m_lc, S::PrepareConnect);
        HP_Set_FN_HttpClient_OnConnect(m_lc, S::Connect);
        if (ssl)
            m_h = sync ? Create_HP_HttpsSyncClient(m_lc) : Create_HP_HttpsClient(m_lc);
        else
            m_h = sync ? Create_HP_HttpSyncClient(m_lc) : Create_HP_HttpClient(m_lc);
        m_ssl = ssl;
        view->m_l = m_l;
        view->m_h = m_h;
        m_view = view;
        Registry::get().add(m_h, view);
    }
    /* Stops, leaves the registry and frees (the final class's destructor, object still whole). */
    void Teardown(bool sync)
    {
        HP_Client_Stop(m_h);
        HP_Client_Wait(m_h, INFINITE);
        Registry::get().remove(m_h, m_view);
        if (m_ssl)
            sync ? Destroy_HP_HttpsSyncClient(m_h) : Destroy_HP_HttpsClient(m_h);
        else
            sync ? Destroy_HP_HttpSyncClient(m_h) : Destroy_HP_HttpClient(m_h);
        Destroy_HP_HttpClientListener(m_lc);
    }
    HP_HttpClientListener m_lc = nullptr;
    HttpClientFace<IHttpClient>* m_view = nullptr;
    bool m_ssl = false;
};

class HttpClient final : public HttpClientFace<IHttpClient>
{
public:
    explicit HttpClient(IHttpClientListener* pListener, bool ssl = false) { Create(pListener, this, false, ssl); }
    ~HttpClient() override { Teardown(false); }
};

class HttpSyncClient final : public HttpClientFace<IHttpSyncClient>
{
public:
    explicit HttpSyncClient(IHttpClientListener* pListener, bool ssl = false) { Create(pListener, &m_face, true, ssl); }
    ~HttpSyncClient() override { Teardown(true); }
    BOOL OpenUrl(LPCSTR m, LPCSTR u, const THeader h[] = nullptr, int k = 0, const BYTE* b = nullptr, int n = 0, BOOL r = FALSE) override
    {
        return HP_HttpSyncClient_OpenUrl(m_h, m, u, h, k, b, n, r);
    }
    BOOL CleanupRequestResult() override { return HP_HttpSyncClient_CleanupRequestResult(m_h); }
    void SetConnectTimeout(DWORD v) override { HP_HttpSyncClient_SetConnectTimeout(m_h, v); }
    void SetRequestTimeout(DWORD v) override { HP_HttpSyncClient_SetRequestTimeout(m_h, v); }
    DWORD GetConnectTimeout() override { return HP_HttpSyncClient_GetConnectTimeout(m_h); }
    DWORD GetRequestTimeout() override { return HP_HttpSyncClient_GetRequestTimeout(m_h); }
    BOOL GetResponseBody(LPCBYTE* b, int* n) override { return HP_HttpSyncClient_GetResponseBody(m_h, b, n); }

private:
    /* The IHttpClient its callbacks get: the same handle, nothing owned. */
    HttpClientFace<IHttpClient> m_face;
};
#undef SHARDNET_HP_SET_HTTP_FNS
#undef SHARDNET_HP_HTTP_COMMON
#undef SHARDNET_HP_HTTP_REQUESTS
#undef SHARDNET_HP_CID_P
#undef SHARDNET_HP_CID_P0
#undef SHARDNET_HP_CID_A
#undef SHARDNET_HP_CID_A0

#undef SHARDNET_HP_COMPLEX
#undef SHARDNET_HP_CLIENT
#undef SHARDNET_HP_TCP_SERVER
#undef SHARDNET_HP_TCP_AGENT
#undef SHARDNET_HP_TCP_CLIENT
} // namespace shardnet_hp

/* ---------------------------------------------------------------- smart pointers ---------- */

template <class T, class _Creator>
class CHPBasePtr
{
public:
    CHPBasePtr& Reset(T* pObj = nullptr)
    {
        if (pObj != m_pObj) {
            if (m_pObj)
                _Creator::Destroy(m_pObj);
            m_pObj = pObj;
        }
        return *this;
    }
    CHPBasePtr& Attach(T* pObj) { return Reset(pObj); }
    T* Detach()
    {
        T* pObj = m_pObj;
        m_pObj = nullptr;
        return pObj;
    }
    BOOL IsValid() const { return m_pObj != nullptr; }
    T* Get() const { return m_pObj; }
    T* operator->() const { return m_pObj; }
    operator T*() const { return m_pObj; }
    CHPBasePtr& operator=(T* pObj) { return Reset(pObj); }

    CHPBasePtr() : m_pObj(nullptr) {}
    virtual ~CHPBasePtr() { Reset(); }
    CHPBasePtr(const CHPBasePtr&) = delete;
    CHPBasePtr& operator=(const CHPBasePtr&) = delete;

protected:
    T* m_pObj;
};

template <class T, class _Listener, class _Creator>
class CHPSocketPtr : public CHPBasePtr<T, _Creator>
{
public:
    CHPSocketPtr(_Listener* pListener) { this->m_pObj = _Creator::Create(pListener); }
    CHPSocketPtr() {}
};

template <class I, class Impl, class L>
struct ShardnetCreator {
    /* A NULL listener creates nothing (the sync client's below excepted, as HP's). */
    static I* Create(L* pListener) { return pListener ? new Impl(pListener) : nullptr; }
    static void Destroy(I* pObj) { delete pObj; }
};

typedef CHPSocketPtr<ITcpServer, ITcpServerListener, ShardnetCreator<ITcpServer, shardnet_hp::TcpServer, ITcpServerListener>> CTcpServerPtr;
typedef CHPSocketPtr<ITcpPullServer, ITcpServerListener, ShardnetCreator<ITcpPullServer, shardnet_hp::TcpPullServer, ITcpServerListener>> CTcpPullServerPtr;
typedef CHPSocketPtr<ITcpPackServer, ITcpServerListener, ShardnetCreator<ITcpPackServer, shardnet_hp::TcpPackServer, ITcpServerListener>> CTcpPackServerPtr;
typedef CHPSocketPtr<ITcpAgent, ITcpAgentListener, ShardnetCreator<ITcpAgent, shardnet_hp::TcpAgent, ITcpAgentListener>> CTcpAgentPtr;
typedef CHPSocketPtr<ITcpPullAgent, ITcpAgentListener, ShardnetCreator<ITcpPullAgent, shardnet_hp::TcpPullAgent, ITcpAgentListener>> CTcpPullAgentPtr;
typedef CHPSocketPtr<ITcpPackAgent, ITcpAgentListener, ShardnetCreator<ITcpPackAgent, shardnet_hp::TcpPackAgent, ITcpAgentListener>> CTcpPackAgentPtr;
typedef CHPSocketPtr<ITcpClient, ITcpClientListener, ShardnetCreator<ITcpClient, shardnet_hp::TcpClient, ITcpClientListener>> CTcpClientPtr;
typedef CHPSocketPtr<ITcpPullClient, ITcpClientListener, ShardnetCreator<ITcpPullClient, shardnet_hp::TcpPullClient, ITcpClientListener>> CTcpPullClientPtr;
typedef CHPSocketPtr<ITcpPackClient, ITcpClientListener, ShardnetCreator<ITcpPackClient, shardnet_hp::TcpPackClient, ITcpClientListener>> CTcpPackClientPtr;
typedef CHPSocketPtr<IUdpServer, IUdpServerListener, ShardnetCreator<IUdpServer, shardnet_hp::UdpServer, IUdpServerListener>> CUdpServerPtr;
typedef CHPSocketPtr<IUdpArqServer, IUdpServerListener, ShardnetCreator<IUdpArqServer, shardnet_hp::UdpArqServer, IUdpServerListener>> CUdpArqServerPtr;
typedef CHPSocketPtr<IUdpClient, IUdpClientListener, ShardnetCreator<IUdpClient, shardnet_hp::UdpClient, IUdpClientListener>> CUdpClientPtr;
typedef CHPSocketPtr<IUdpArqClient, IUdpClientListener, ShardnetCreator<IUdpArqClient, shardnet_hp::UdpArqClient, IUdpClientListener>> CUdpArqClientPtr;
typedef CHPSocketPtr<IUdpCast, IUdpCastListener, ShardnetCreator<IUdpCast, shardnet_hp::UdpCast, IUdpCastListener>> CUdpCastPtr;
typedef CHPSocketPtr<IUdpNode, IUdpNodeListener, ShardnetCreator<IUdpNode, shardnet_hp::UdpNode, IUdpNodeListener>> CUdpNodePtr;
typedef CHPSocketPtr<IHttpServer, IHttpServerListener, ShardnetCreator<IHttpServer, shardnet_hp::HttpServer, IHttpServerListener>> CHttpServerPtr;
typedef CHPSocketPtr<IHttpAgent, IHttpAgentListener, ShardnetCreator<IHttpAgent, shardnet_hp::HttpAgent, IHttpAgentListener>> CHttpAgentPtr;
typedef CHPSocketPtr<IHttpClient, IHttpClientListener, ShardnetCreator<IHttpClient, shardnet_hp::HttpClient, IHttpClientListener>> CHttpClientPtr;
template <bool Ssl>
struct ShardnetSyncClientCreator {
    static IHttpSyncClient* Create(IHttpClientListener* pListener) { return new shardnet_hp::HttpSyncClient(pListener, Ssl); }
    static void Destroy(IHttpSyncClient* pObj) { delete pObj; }
};
typedef CHPSocketPtr<IHttpSyncClient, IHttpClientListener, ShardnetSyncClientCreator<false>> CHttpSyncClientPtr;

/* The SSL forms (HP's HPSocket-SSL.h): SetupSSLContext before Start. */
template <class I, class Impl, class L>
struct ShardnetSslCreator {
    static I* Create(L* pListener) { return pListener ? new Impl(pListener, true) : nullptr; }
    static void Destroy(I* pObj) { delete pObj; }
};
typedef CHPSocketPtr<ITcpServer, ITcpServerListener, ShardnetSslCreator<ITcpServer, shardnet_hp::TcpServer, ITcpServerListener>> CSSLServerPtr;
typedef CHPSocketPtr<ITcpPullServer, ITcpServerListener, ShardnetSslCreator<ITcpPullServer, shardnet_hp::TcpPullServer, ITcpServerListener>> CSSLPullServerPtr;
typedef CHPSocketPtr<ITcpPackServer, ITcpServerListener, ShardnetSslCreator<ITcpPackServer, shardnet_hp::TcpPackServer, ITcpServerListener>> CSSLPackServerPtr;
typedef CHPSocketPtr<ITcpAgent, ITcpAgentListener, ShardnetSslCreator<ITcpAgent, shardnet_hp::TcpAgent, ITcpAgentListener>> CSSLAgentPtr;
typedef CHPSocketPtr<ITcpPullAgent, ITcpAgentListener, ShardnetSslCreator<ITcpPullAgent, shardnet_hp::TcpPullAgent, ITcpAgentListener>> CSSLPullAgentPtr;
typedef CHPSocketPtr<ITcpPackAgent, ITcpAgentListener, ShardnetSslCreator<ITcpPackAgent, shardnet_hp::TcpPackAgent, ITcpAgentListener>> CSSLPackAgentPtr;
typedef CHPSocketPtr<ITcpClient, ITcpClientListener, ShardnetSslCreator<ITcpClient, shardnet_hp::TcpClient, ITcpClientListener>> CSSLClientPtr;
typedef CHPSocketPtr<ITcpPullClient, ITcpClientListener, ShardnetSslCreator<ITcpPullClient, shardnet_hp::TcpPullClient, ITcpClientListener>> CSSLPullClientPtr;
typedef CHPSocketPtr<ITcpPackClient, ITcpClientListener, ShardnetSslCreator<ITcpPackClient, shardnet_hp::TcpPackClient, ITcpClientListener>> CSSLPackClientPtr;
typedef CHPSocketPtr<IHttpServer, IHttpServerListener, ShardnetSslCreator<IHttpServer, shardnet_hp::HttpServer, IHttpServerListener>> CHttpsServerPtr;
typedef CHPSocketPtr<IHttpAgent, IHttpAgentListener, ShardnetSslCreator<IHttpAgent, shardnet_hp::HttpAgent, IHttpAgentListener>> CHttpsAgentPtr;
typedef CHPSocketPtr<IHttpClient, IHttpClientListener, ShardnetSslCreator<IHttpClient, shardnet_hp::HttpClient, IHttpClientListener>> CHttpsClientPtr;
typedef CHPSocketPtr<IHttpSyncClient, IHttpClientListener, ShardnetSyncClientCreator<true>> CHttpsSyncClientPtr;

#endif /* __cplusplus */
#endif
