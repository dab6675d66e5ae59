FROM mcr.microsoft.com/windows/nanoserver:ltsc2022
RUN dir C:\ | findstr Windows
CMD ["cmd", "/S", "/C", "C:\\app\\server.exe"]
